#pragma once
// Runs a child process to completion, capturing stdout and stderr, for black-box CLI tests.

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace crmsync::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

/// Runs argv[0] (a path) with argv, with `env` added to this process's environment.
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

/// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  /// Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

/// A child running in the background; killed (SIGKILL) and reaped on destruction if still alive.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  void signal(int sig) const;
  /// Waits for exit and returns the result (output captured to files meanwhile).
  ProcessResult wait();
  [[nodiscard]] bool running() const;
  /// What it has written to stderr so far (it goes on running).
  [[nodiscard]] std::string stderr_so_far() const;

 private:
  std::unique_ptr<TempDir> io_;
  int pid_ = -1;
  bool reaped_ = false;
};

}  // namespace crmsync::testing
