/* Helpers shared by the Check suites of src/core (see check_util.h). */
#include "check_util.h"

#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_THREAD__)
#define NAT_CHECK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NAT_CHECK_TSAN 1
#endif
#endif
#ifndef NAT_CHECK_TSAN
#define NAT_CHECK_TSAN 0
#endif

void nat_check_setup(void) { nat__core_reset(); }

void nat_check_teardown(void) { nat__core_reset(); }

void nat_sink_init(nat_sink_t* s) { memset(s, 0, sizeof(*s)); }

void nat_sink_free(nat_sink_t* s) {
  free(s->recs);
  memset(s, 0, sizeof(*s));
}

void nat_sink_clear(nat_sink_t* s) { s->len = 0; }

nat_record_t* nat_sink_alloc(void* ud, size_t count) {
  nat_sink_t* s = ud;
  s->alloc_calls++;
  s->last_count = count;
  if (s->fail) return NULL;
  if (s->len + count > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + count) cap *= 2;
    nat_record_t* r = realloc(s->recs, cap * sizeof(*r));
    if (r == NULL) return NULL;
    s->recs = r;
    s->cap = cap;
  }
  /* Poison the fresh space so a record the drain forgets to write does not
   * pass for a valid one. */
  memset(s->recs + s->len, 0xa5, count * sizeof(nat_record_t));
  return s->recs + s->len;
}

int64_t nat_sink_drain(nat_sink_t* s, size_t max) {
  size_t calls = s->alloc_calls;
  int64_t n = nat__drain(nat_sink_alloc, s, max);
  if (n > 0) {
    ck_assert_uint_eq(s->alloc_calls, calls + 1);
    ck_assert_uint_eq(s->last_count, (uint64_t)n);
    s->len += (size_t)n;
  } else if (n == 0) {
    ck_assert_uint_eq(s->alloc_calls, calls);
  } else {
    ck_assert_int_eq(n, NAT_ENOMEM);
  }
  return n;
}

size_t nat_sink_drain_all(nat_sink_t* s) {
  size_t start = s->len;
  int64_t n;
  while ((n = nat_sink_drain(s, 0)) > 0) {
  }
  ck_assert_int_eq(n, 0);
  return s->len - start;
}

size_t nat_sink_count_type(const nat_sink_t* s, size_t from, uint16_t type) {
  size_t n = 0;
  for (size_t i = from; i < s->len; i++) n += s->recs[i].type == type;
  return n;
}

static void emitter_main(void* arg) {
  nat_emitter_t* e = arg;
  e->serial = nat__thread_serial();
  if (e->before != NULL) uv_sem_wait(e->before);
  for (size_t i = 0; i < e->n; i++) {
    int r = nat__emit(NAT_EV_LINK, 0, i, 0, e->site, e->env);
    if (r == 1)
      e->committed++;
    else if (r < 0)
      e->dropped++;
    else
      e->off++;
  }
  if (e->after != NULL) uv_sem_post(e->after);
  if (e->hold != NULL) uv_sem_wait(e->hold);
}

void nat_emitter_start(nat_emitter_t* e) {
  e->committed = e->dropped = e->off = 0;
  /* Small stacks: some tests keep a hundred of these alive at once. */
  uv_thread_options_t opts = {UV_THREAD_HAS_STACK_SIZE, 512 * 1024};
  ck_assert_int_eq(uv_thread_create_ex(&e->thread, &opts, emitter_main, e), 0);
}

void nat_emitter_join(nat_emitter_t* e) {
  ck_assert_int_eq(uv_thread_join(&e->thread), 0);
}

int nat_check_serialized(void) { return RUNNING_ON_VALGRIND ? 1 : 0; }

size_t nat_check_scaled(size_t n, size_t floor) {
  size_t div = 1;
  if (NAT_CHECK_TSAN) div = 2;
  if (RUNNING_ON_VALGRIND) div = 2;
  const char* env = getenv("NAT_CHECK_DIVISOR");
  if (env != NULL && atoi(env) > 0) div = (size_t)atoi(env);
  n /= div;
  return n < floor ? floor : n;
}
