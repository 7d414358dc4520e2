/* Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 * Exercises the C API from C against the shared library: engine, tenant,
 * timeline, branch, versions, errors. Exits non-zero on the first failure. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neon_c.h"

static int failures = 0;
#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                    \
    }                                                                \
  } while (0)

static void expect_page(neon_timeline_t* tl, neon_key_t key, uint64_t lsn, const char* want) {
  char* err = NULL;
  size_t len = 0;
  char* page = neon_get_page(tl, key, lsn, &len, &err);
  CHECK(err == NULL);
  CHECK(page != NULL && len == strlen(want) && memcmp(page, want, len) == 0);
  if (err) fprintf(stderr, "  error: %s\n", err);
  neon_free(page);
  neon_free(err);
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : "c_api_test_dir";
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) return 2;

  char* err = NULL;
  neon_engine_t* engine = neon_engine_open(dir, &err);
  CHECK(engine != NULL && err == NULL);
  const char* tenant = "0123456789abcdef0123456789abcdef";
  const char* main_id = "11111111111111111111111111111111";
  const char* branch_id = "22222222222222222222222222222222";
  CHECK(neon_tenant_create(engine, tenant, &err) == NEON_OK);
  CHECK(neon_tenant_create(engine, tenant, &err) == NEON_ALREADY_EXISTS);
  CHECK(err != NULL && strstr(err, "already exists") != NULL);
  neon_free(err);
  err = NULL;

  neon_timeline_t* main_tl = neon_timeline_create(engine, tenant, main_id, 15, &err);
  CHECK(main_tl != NULL);
  neon_key_t key = neon_key_rel_block(1663, 5, 16384, 0, 7);
  CHECK(neon_put_image(main_tl, key, 0x10, "v1", 2, &err) == NEON_OK);
  CHECK(neon_finish_write(main_tl, 0x10, &err) == NEON_OK);
  CHECK(neon_put_image(main_tl, key, 0x20, "v2", 2, &err) == NEON_OK);
  CHECK(neon_finish_write(main_tl, 0x20, &err) == NEON_OK);
  CHECK(neon_timeline_last_record_lsn(main_tl) == 0x20);
  expect_page(main_tl, key, 0x10, "v1");
  expect_page(main_tl, key, 0x20, "v2");

  neon_timeline_t* br = neon_timeline_branch(engine, tenant, branch_id, main_id, 0x10, &err);
  CHECK(br != NULL);
  expect_page(br, key, 0x10, "v1");
  CHECK(neon_put_image(br, key, 0x18, "b", 1, &err) == NEON_OK);
  CHECK(neon_finish_write(br, 0x18, &err) == NEON_OK);
  expect_page(br, key, 0x18, "b");
  expect_page(main_tl, key, 0x20, "v2");
  CHECK(neon_timeline_flush(main_tl, &err) == NEON_OK);

  /* Errors: bad input is rejected with a message, nothing changes. */
  CHECK(neon_put_image(main_tl, key, 0x8, "old", 3, &err) == NEON_INVALID_ARGUMENT);
  CHECK(err != NULL);
  neon_free(err);
  err = NULL;
  size_t len = 0;
  neon_key_t missing = neon_key_rel_block(1663, 5, 16384, 0, 8);
  CHECK(neon_get_page(main_tl, missing, 0x20, &len, &err) == NULL && err != NULL);
  neon_free(err);
  err = NULL;
  CHECK(neon_timeline_get(engine, tenant, "not-hex", &err) == NULL && err != NULL);
  neon_free(err);
  err = NULL;

  uint64_t lsn = 0;
  char buf[32];
  CHECK(neon_lsn_parse("16/B374D848", &lsn, &err) == NEON_OK && lsn == 0x16B374D848ull);
  neon_lsn_format(lsn, buf, sizeof(buf));
  CHECK(strcmp(buf, "16/B374D848") == 0);
  CHECK(neon_lsn_parse("nope", &lsn, &err) == NEON_INVALID_ARGUMENT);
  neon_free(err);
  err = NULL;

  neon_timeline_release(br);
  neon_timeline_release(main_tl);
  neon_engine_close(engine);

  /* Reopen: flushed data is still there. */
  engine = neon_engine_open(dir, &err);
  CHECK(engine != NULL);
  main_tl = neon_timeline_get(engine, tenant, main_id, &err);
  CHECK(main_tl != NULL);
  if (main_tl) expect_page(main_tl, key, 0x20, "v2");
  neon_timeline_release(main_tl);
  neon_engine_close(engine);

  if (failures) {
    fprintf(stderr, "c_api_test: %d failures\n", failures);
    return 1;
  }
  printf("c_api_test: all checks passed\n");
  return 0;
}
