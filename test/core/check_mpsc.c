/*
 * The tracked queue's lock-free MPSC FIFO and its wake-up/close word
 * (src/core/mpsc.c). The threaded cases model the real use: producers
 * push and ring a doorbell when push says so (uv_async_send in the addon,
 * a coalescing flag + condition here), the consumer sleeps on the doorbell
 * only, so a lost wake-up hangs the case (and fails it at the timeout).
 * These run under ThreadSanitizer too (make -C test/core tsan).
 */
#include <stdlib.h>

#include "check_util.h"

typedef struct {
  nat__mpsc_node_t node; /* first: a node pointer is an item pointer */
  uint32_t producer;
  uint32_t seq;
} item_t;

START_TEST(mpsc_fifo_one_thread) {
  nat__mpsc_t q;
  nat__mpsc_init(&q);
  item_t it[5];
  int retry = 1;
  ck_assert_ptr_null(nat__mpsc_pop(&q, &retry));
  ck_assert_int_eq(retry, 0);
  /* The first push owes a wake-up, the next ones find it owed. */
  for (int i = 0; i < 5; i++) {
    it[i].seq = (uint32_t)i;
    int r = nat__mpsc_push(&q, &it[i].node);
    ck_assert_int_eq(r, i == 0 ? 1 : 0);
    if (r == 1) nat__mpsc_leave(&q);
  }
  ck_assert_uint_eq(nat__mpsc_begin(&q) & NAT__MPSC_PENDING, 1);
  for (int i = 0; i < 3; i++) {
    item_t* got = (item_t*)nat__mpsc_pop(&q, &retry);
    ck_assert_ptr_eq(got, &it[i]);
  }
  /* PENDING was cleared by begin: the next push owes a wake-up again. */
  item_t more = {.seq = 5};
  ck_assert_int_eq(nat__mpsc_push(&q, &more.node), 1);
  nat__mpsc_leave(&q);
  /* A push of nothing only owes a wake-up. */
  ck_assert_int_eq(nat__mpsc_push(&q, NULL), 0);
  ck_assert_ptr_eq(nat__mpsc_pop(&q, &retry), &it[3].node);
  ck_assert_ptr_eq(nat__mpsc_pop(&q, &retry), &it[4].node);
  ck_assert_ptr_eq(nat__mpsc_pop(&q, &retry), &more.node);
  ck_assert_ptr_null(nat__mpsc_pop(&q, &retry));
  ck_assert_int_eq(retry, 0);
  /* Re-arming owes a wake-up once. */
  nat__mpsc_begin(&q);
  ck_assert_int_eq(nat__mpsc_rearm(&q), 1);
  ck_assert_int_eq(nat__mpsc_rearm(&q), 0);
  /* Reused nodes, after the queue went empty through the stub. */
  for (int i = 0; i < 5; i++)
    if (nat__mpsc_push(&q, &it[i].node) == 1) nat__mpsc_leave(&q);
  ck_assert_int_eq(nat__mpsc_closing(&q), 0);
  nat__mpsc_close(&q);
  ck_assert_int_eq(nat__mpsc_closing(&q), 1);
  ck_assert_int_eq(nat__mpsc_push(&q, &more.node), NAT_ECLOSING);
  for (int i = 0; i < 5; i++)
    ck_assert_ptr_eq(nat__mpsc_pop(&q, &retry), &it[i].node);
  ck_assert_ptr_null(nat__mpsc_pop(&q, &retry));
  ck_assert_int_eq(retry, 0);
}
END_TEST

/* ---- threads: producers, a doorbell, one consumer ----------------------- */

typedef struct {
  nat__mpsc_t q;
  uv_mutex_t mu;
  uv_cond_t cv;
  int rung;               /* the doorbell: coalesces like uv_async_send */
  _Atomic uint64_t rings; /* doorbell rings, for the record */
  size_t per_producer;    /* 0: push until the queue refuses */
} bench_t;

typedef struct {
  bench_t* b;
  uint32_t id;
  item_t* items;
  size_t cap;
  size_t pushed;  /* accepted */
  int refused;    /* its last push returned NAT_ECLOSING */
  uv_thread_t th;
} producer_t;

static void ring(bench_t* b) {
  atomic_fetch_add_explicit(&b->rings, 1, memory_order_relaxed);
  uv_mutex_lock(&b->mu);
  b->rung = 1;
  uv_cond_signal(&b->cv);
  uv_mutex_unlock(&b->mu);
}

static void wait_bell(bench_t* b) {
  uv_mutex_lock(&b->mu);
  while (!b->rung) uv_cond_wait(&b->cv, &b->mu);
  b->rung = 0;
  uv_mutex_unlock(&b->mu);
}

static void producer_main(void* arg) {
  producer_t* p = arg;
  for (size_t i = 0; i < p->cap; i++) {
    item_t* it = &p->items[i];
    it->producer = p->id;
    it->seq = (uint32_t)i;
    int r = nat__mpsc_push(&p->b->q, &it->node);
    if (r == NAT_ECLOSING) {
      p->refused = 1;
      return;
    }
    p->pushed++;
    if (r == 1) {
      ring(p->b);
      nat__mpsc_leave(&p->b->q);
    }
  }
}

static void producers_start(bench_t* b, producer_t* ps, int n, size_t cap) {
  for (int i = 0; i < n; i++) {
    ps[i].b = b;
    ps[i].id = (uint32_t)i;
    ps[i].cap = cap;
    ps[i].pushed = 0;
    ps[i].refused = 0;
    ps[i].items = calloc(cap, sizeof(item_t));
    ck_assert_ptr_nonnull(ps[i].items);
    ck_assert_int_eq(uv_thread_create(&ps[i].th, producer_main, &ps[i]), 0);
  }
}

static void bench_init(bench_t* b) {
  nat__mpsc_init(&b->q);
  uv_mutex_init(&b->mu);
  uv_cond_init(&b->cv);
  b->rung = 0;
  atomic_store(&b->rings, 0);
}

static void bench_free(bench_t* b, producer_t* ps, int n) {
  for (int i = 0; i < n; i++) free(ps[i].items);
  uv_cond_destroy(&b->cv);
  uv_mutex_destroy(&b->mu);
}

/* Pops what is there now; checks FIFO order per producer and counts. */
static size_t consume(bench_t* b, uint32_t* next_seq, int* saw_retry) {
  size_t n = 0;
  int retry;
  nat__mpsc_node_t* node;
  while ((node = nat__mpsc_pop(&b->q, &retry)) != NULL) {
    item_t* it = (item_t*)node;
    nat_assert_uint_eq(it->seq, next_seq[it->producer]);
    next_seq[it->producer]++;
    n++;
  }
  if (retry) *saw_retry = 1;
  return n;
}

START_TEST(mpsc_threads_no_lost_wakeup) {
  enum { P = 4 };
  size_t per = nat_check_scaled(200000, 2000);
  bench_t b;
  producer_t ps[P];
  uint32_t next_seq[P] = {0};
  bench_init(&b);
  producers_start(&b, ps, P, per);
  size_t got = 0, wakeups = 0;
  int saw_retry = 0;
  /* The consumer sleeps on the doorbell only: every node must come with
   * a wake-up that follows it, or this loop never ends. */
  while (got < P * per) {
    wait_bell(&b);
    wakeups++;
    nat__mpsc_begin(&b.q);
    got += consume(&b, next_seq, &saw_retry);
  }
  for (int i = 0; i < P; i++) uv_thread_join(&ps[i].th);
  nat_assert_uint_eq(got, P * per);
  for (int i = 0; i < P; i++) nat_assert_uint_eq(next_seq[i], per);
  int retry;
  ck_assert_ptr_null(nat__mpsc_pop(&b.q, &retry));
  /* Wake-ups coalesce: far fewer rings than nodes (not asserted: on an
   * idle machine each node may find the consumer asleep). */
  nat_assert_uint_ge(atomic_load(&b.rings), wakeups > 0 ? 1 : 0);
  bench_free(&b, ps, P);
}
END_TEST

START_TEST(mpsc_close_under_load) {
  /* Producers push without limit; the consumer takes some, closes, then
   * drains the rest: after close every accepted node is linked (no
   * retry), none is lost or seen twice, and each producer's next push is
   * refused. */
  enum { P = 4 };
  size_t cap = nat_check_scaled(400000, 4000);
  bench_t b;
  producer_t ps[P];
  uint32_t next_seq[P] = {0};
  bench_init(&b);
  producers_start(&b, ps, P, cap);
  size_t got = 0;
  int saw_retry = 0;
  while (got < cap / 4) {
    wait_bell(&b);
    nat__mpsc_begin(&b.q);
    got += consume(&b, next_seq, &saw_retry);
  }
  nat__mpsc_close(&b.q);
  int after_close_retry = 0;
  got += consume(&b, next_seq, &after_close_retry);
  ck_assert_int_eq(after_close_retry, 0);
  for (int i = 0; i < P; i++) uv_thread_join(&ps[i].th);
  /* Nothing lands after close. */
  got += consume(&b, next_seq, &after_close_retry);
  ck_assert_int_eq(after_close_retry, 0);
  size_t pushed = 0;
  for (int i = 0; i < P; i++) {
    pushed += ps[i].pushed;
    nat_assert_uint_eq(next_seq[i], ps[i].pushed);
    /* A producer either finished before the close or was refused. */
    nat_assert(ps[i].refused || ps[i].pushed == cap);
  }
  nat_assert_uint_eq(got, pushed);
  bench_free(&b, ps, P);
}
END_TEST

START_TEST(mpsc_close_races_push) {
  /* Many short rounds: close lands at a different point of a producer's
   * push each time (between the busy count and the exchange, between
   * exchange and link, ...). */
  size_t rounds = nat_check_scaled(400, 20);
  for (size_t r = 0; r < rounds; r++) {
    enum { P = 2 };
    bench_t b;
    producer_t ps[P];
    uint32_t next_seq[P] = {0};
    bench_init(&b);
    producers_start(&b, ps, P, 2000);
    int saw_retry = 0;
    size_t got = consume(&b, next_seq, &saw_retry);
    nat__mpsc_close(&b.q);
    int after = 0;
    got += consume(&b, next_seq, &after);
    ck_assert_int_eq(after, 0);
    for (int i = 0; i < P; i++) uv_thread_join(&ps[i].th);
    got += consume(&b, next_seq, &after);
    size_t pushed = ps[0].pushed + ps[1].pushed;
    nat_assert_uint_eq(got, pushed);
    bench_free(&b, ps, P);
  }
}
END_TEST

/* close() must not return while a producer that owes the wake-up is still
 * counted inside (it may be in uv_async_send on the owner's handle). */
typedef struct {
  nat__mpsc_t q;
  uv_sem_t inside, go;
  _Atomic int closed;
  item_t it;
} inside_t;

static void inside_producer(void* arg) {
  inside_t* s = arg;
  int r = nat__mpsc_push(&s->q, &s->it.node);
  nat_assert(r == 1);
  uv_sem_post(&s->inside);
  uv_sem_wait(&s->go);
  nat__mpsc_leave(&s->q);
}

static void inside_closer(void* arg) {
  inside_t* s = arg;
  nat__mpsc_close(&s->q);
  atomic_store(&s->closed, 1);
}

START_TEST(mpsc_close_waits_for_sender) {
  inside_t s;
  nat__mpsc_init(&s.q);
  uv_sem_init(&s.inside, 0);
  uv_sem_init(&s.go, 0);
  atomic_store(&s.closed, 0);
  uv_thread_t p, c;
  uv_thread_create(&p, inside_producer, &s);
  uv_sem_wait(&s.inside);
  uv_thread_create(&c, inside_closer, &s);
  uv_sleep(20); /* give close every chance to return early */
  ck_assert_int_eq(atomic_load(&s.closed), 0);
  uv_sem_post(&s.go);
  uv_thread_join(&p);
  uv_thread_join(&c);
  ck_assert_int_eq(atomic_load(&s.closed), 1);
  int retry;
  ck_assert_ptr_eq(nat__mpsc_pop(&s.q, &retry), &s.it.node);
  ck_assert_int_eq(nat__mpsc_push(&s.q, NULL), NAT_ECLOSING);
  uv_sem_destroy(&s.inside);
  uv_sem_destroy(&s.go);
}
END_TEST

Suite* nat_mpsc_suite(void) {
  Suite* s = suite_create("mpsc");
  TCase* tc = tcase_create("mpsc_one_thread");
  tcase_add_test(tc, mpsc_fifo_one_thread);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  suite_add_tcase(s, tc);
  tc = tcase_create("mpsc_threads");
  tcase_add_test(tc, mpsc_threads_no_lost_wakeup);
  tcase_add_test(tc, mpsc_close_under_load);
  tcase_add_test(tc, mpsc_close_races_push);
  tcase_add_test(tc, mpsc_close_waits_for_sender);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  suite_add_tcase(s, tc);
  return s;
}
