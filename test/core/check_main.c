/*
 * Runs every Check suite of src/core. Check forks one process per test by
 * default (CK_FORK=no runs them in this process, as valgrind needs);
 * CK_VERBOSITY and CK_RUN_SUITE / CK_RUN_CASE select the output and the
 * tests as usual.
 */
#include <stdlib.h>

#include "check_util.h"

int main(void) {
  SRunner* sr = srunner_create(nat_defs_suite());
  srunner_add_suite(sr, nat_clock_suite());
  srunner_add_suite(sr, nat_ids_suite());
  srunner_add_suite(sr, nat_site_suite());
  srunner_add_suite(sr, nat_ring_suite());
  srunner_add_suite(sr, nat_drain_suite());
  srunner_add_suite(sr, nat_threads_suite());
  srunner_add_suite(sr, nat_interpose_suite());
  srunner_add_suite(sr, nat_mpsc_suite());
  srunner_add_suite(sr, nat_pool_suite());
  srunner_add_suite(sr, nat_warena_suite());

  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
