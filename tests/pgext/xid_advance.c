/*
 * A test-only PostgreSQL function that ages a cluster: moves the next transaction id forward by
 * about n, as if n transactions had come and gone, in an instant. Integration tests use it to run
 * crmsync against a source whose xids are billions past the copy's snapshot while the logical
 * slot stays valid (pg_resetwal -x would discard the WAL the slot needs).
 *
 * The counter jumps to the first id of a commit-log page, so the next transaction to take an id
 * creates that page (and the subtransaction page) as it does at every page boundary; the pages in
 * between are never created, because no tuple carries their ids. It refuses to pass the
 * wraparound warning limit: the caller must VACUUM FREEZE between large steps, as a real cluster
 * must.
 *
 * Built against PostgreSQL 15's server headers (postgresql-server-dev-15) by
 * tests/integration/CMakeLists.txt; loaded by absolute path, never installed.
 */
#include "postgres.h"

#include "access/transam.h"
#include "fmgr.h"
#include "storage/lwlock.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(crmsync_test_advance_xids);

#define XIDS_PER_CLOG_PAGE (BLCKSZ * 4)

Datum
crmsync_test_advance_xids(PG_FUNCTION_ARGS)
{
	int64		n = PG_GETARG_INT64(0);
	uint64		next;
	uint64		target;
	TransactionId warn_limit;

	if (n <= 0 || n > 2000000000)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("crmsync_test_advance_xids: n must be in 1..2000000000")));

	LWLockAcquire(XidGenLock, LW_EXCLUSIVE);
	next = U64FromFullTransactionId(ShmemVariableCache->nextXid);
	target = next + (uint64) n;
	target -= target % XIDS_PER_CLOG_PAGE;
	if ((TransactionId) target < FirstNormalTransactionId)
		target += FirstNormalTransactionId; /* id 3 starts its page too */
	warn_limit = ShmemVariableCache->xidWarnLimit;
	if (target <= next || !TransactionIdPrecedes((TransactionId) target, warn_limit))
	{
		LWLockRelease(XidGenLock);
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("crmsync_test_advance_xids: %lld more xids would pass the wraparound warning "
							   "limit %u; VACUUM FREEZE every database first",
							   (long long) n, warn_limit)));
	}
	ShmemVariableCache->nextXid = FullTransactionIdFromU64(target);
	LWLockRelease(XidGenLock);
	PG_RETURN_INT64((int64) target);
}
