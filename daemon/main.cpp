#include "daemon/cli.hpp"

int main(int argc, char** argv) {
  return crmsync::daemon::run_cli(argc, argv);
}
