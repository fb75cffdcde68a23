/*
 * The benchmark addon (figures 3 to 6 of issue 6), built ONLY against
 * include/napi_async_trace.h, like any addon that uses the engine. Each
 * benchmark has a raw Node-API baseline and a tracked variant that do the
 * same work through the same code, differing only in the calls that hand
 * an item to Node:
 *
 * queueRun(mode, total, window, cb, done)
 *   mode 'raw' (napi_threadsafe_function), 'shared' (tracked queue,
 *   NAT_QUEUE_SHARED_CONTEXT) or 'task' (tracked queue, a context per
 *   task). Items are linked on the JS thread (`window` of them at first,
 *   then one more after each callback, from inside it), made ready on one
 *   native thread (blocking mode) and dispatched one JS callback per item:
 *   cb() is called with no arguments. After `total` callbacks the queue is
 *   released, the thread joined and done() called.
 *
 * workRun(mode, total, parallel, cb, done)
 *   mode 'raw' (napi_create_async_work) or 'tracked' (work_create). Each of
 *   `parallel` work handles runs execute on the libuv pool, then complete
 *   calls cb() and queues its handle again until `total` runs completed;
 *   then the handles are deleted and done() called.
 *
 * chain(n)
 *   Records n items with the manual marks on the JS thread: link, ready,
 *   frame begin, frame end (4n events), for the drain, decode and graph
 *   figures.
 *
 * Threads: js_* and the call_js / complete callbacks run on the JS
 * thread; worker_main is the native thread of queueRun; work_execute runs
 * on the libuv pool.
 */
#include <napi_async_trace.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static const nat_api_t* nat;

static napi_value throw_msg(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof(msg), "%s failed: %d %s", what, err,
           err < 0 ? nat->strerror(err) : "");
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static double arg_num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static void call0(napi_env env, napi_value fn) {
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, fn, 0, NULL, NULL);
}

/* ---- queues ------------------------------------------------------------- */

enum { MODE_RAW = 0, MODE_SHARED = 1, MODE_TASK = 2 };

/* One item: allocated on the JS thread when it is linked, freed by the
 * dispatch. The same in every mode. */
typedef struct item_s {
  struct item_s* next;
  nat_task_t* task; /* tracked modes */
  uint64_t seq;
} item_t;

typedef struct {
  int mode;
  napi_env env;
  napi_threadsafe_function tsfn; /* raw */
  nat_queue_t* q;                /* tracked */
  napi_ref done;

  uint64_t total;
  uint64_t linked;    /* JS thread */
  uint64_t completed; /* JS thread */

  /* Items linked and not yet made ready: JS pushes, the worker takes the
   * whole list at once. */
  uv_mutex_t mu;
  uv_cond_t cv;
  item_t* head;
  item_t** tailp;
  int stop;
  int sleeping; /* the worker waits on cv: only then is it signalled */
  uv_thread_t worker;
} qrun_t;

static void worker_main(void* arg) {
  qrun_t* r = arg;
  for (;;) {
    uv_mutex_lock(&r->mu);
    while (r->head == NULL && !r->stop) {
      r->sleeping = 1;
      uv_cond_wait(&r->cv, &r->mu);
      r->sleeping = 0;
    }
    item_t* list = r->head;
    r->head = NULL;
    r->tailp = &r->head;
    int stop = r->stop;
    uv_mutex_unlock(&r->mu);
    while (list != NULL) {
      item_t* it = list;
      list = it->next;
      if (r->mode == MODE_RAW) {
        napi_call_threadsafe_function(r->tsfn, it, napi_tsfn_blocking);
      } else {
        nat->queue_ready(it->task, it, napi_tsfn_blocking);
      }
    }
    if (stop) return;
  }
}

/* JS thread: link one item and hand it to the worker. */
static int link_one(qrun_t* r) {
  item_t* it = malloc(sizeof(*it));
  if (it == NULL) return NAT_ENOMEM;
  it->next = NULL;
  it->task = NULL;
  it->seq = r->linked++;
  if (r->mode != MODE_RAW) {
    int err = nat->queue_link(r->q, &it->task);
    if (err != 0) {
      free(it);
      return err;
    }
  }
  uv_mutex_lock(&r->mu);
  *r->tailp = it;
  r->tailp = &it->next;
  /* A futex wake per item would cost more than the rest of the item. */
  if (r->sleeping) uv_cond_signal(&r->cv);
  uv_mutex_unlock(&r->mu);
  return 0;
}

static void qrun_finish(qrun_t* r) {
  uv_mutex_lock(&r->mu);
  r->stop = 1;
  uv_cond_signal(&r->cv);
  uv_mutex_unlock(&r->mu);
  uv_thread_join(&r->worker);
  if (r->mode == MODE_RAW)
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  else
    nat->queue_release(r->q);
}

/* The dispatch of one item, the same code in every mode. */
static void item_dispatch(napi_env env, napi_value js_cb, qrun_t* r,
                          item_t* it) {
  free(it);
  call0(env, js_cb);
  r->completed++;
  if (r->linked < r->total) link_one(r);
  if (r->completed == r->total) qrun_finish(r);
}

static void raw_call_js(napi_env env, napi_value js_cb, void* context,
                        void* data) {
  if (env == NULL) {
    free(data);
    return;
  }
  item_dispatch(env, js_cb, context, data);
}

static void tracked_call_js(napi_env env, napi_value js_cb, void* context,
                            void* data) {
  item_dispatch(env, js_cb, context, data);
}

static void tracked_drop(void* context, void* data) { free(data); }

static void qrun_free(napi_env env, qrun_t* r) {
  napi_value done;
  napi_get_reference_value(env, r->done, &done);
  napi_delete_reference(env, r->done);
  uv_mutex_destroy(&r->mu);
  uv_cond_destroy(&r->cv);
  free(r);
  call0(env, done);
}

static void raw_finalize(napi_env env, void* data, void* hint) {
  qrun_free(env, data);
}

static void tracked_finalize(napi_env env, void* data, void* context) {
  qrun_free(env, data);
}

static napi_value js_queue_run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char mode[16] = "";
  napi_get_value_string_utf8(env, argv[0], mode, sizeof(mode), NULL);
  qrun_t* r = calloc(1, sizeof(*r));
  r->mode = strcmp(mode, "raw") == 0      ? MODE_RAW
            : strcmp(mode, "shared") == 0 ? MODE_SHARED
                                          : MODE_TASK;
  r->env = env;
  r->total = (uint64_t)arg_num(env, argv[1]);
  uint64_t window = (uint64_t)arg_num(env, argv[2]);
  napi_create_reference(env, argv[4], 1, &r->done);
  uv_mutex_init(&r->mu);
  uv_cond_init(&r->cv);
  r->tailp = &r->head;

  const char* name = "bench:queue";
  if (r->mode == MODE_RAW) {
    napi_value res_name;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res_name);
    napi_status st = napi_create_threadsafe_function(
        env, argv[3], NULL, res_name, 0, 1, r, raw_finalize, r, raw_call_js,
        &r->tsfn);
    if (st != napi_ok) return throw_msg(env, "napi_create_threadsafe_function", st);
  } else {
    nat_queue_options_t o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.name = name;
    o.func = argv[3];
    o.initial_thread_count = 1;
    o.flags = r->mode == MODE_SHARED ? NAT_QUEUE_SHARED_CONTEXT : 0;
    o.context = r;
    o.call_js = tracked_call_js;
    o.drop = tracked_drop;
    o.finalize = tracked_finalize;
    o.finalize_data = r;
    int err = nat->queue_create(env, &o, &r->q);
    if (err != 0) return throw_msg(env, "queue_create", err);
  }
  uv_thread_create(&r->worker, worker_main, r);
  for (uint64_t i = 0; i < window && r->linked < r->total; i++) {
    int err = link_one(r);
    if (err != 0) return throw_msg(env, "link", err);
  }
  return NULL;
}

/* ---- async work --------------------------------------------------------- */

typedef struct wrun_s wrun_t;

typedef struct {
  wrun_t* run;
  napi_async_work raw;
  nat_work_t* tracked;
  uint64_t acc; /* execute's result */
} whandle_t;

struct wrun_s {
  int tracked;
  napi_env env;
  napi_ref cb;
  napi_ref done;
  uint64_t total;
  uint64_t queued; /* JS thread */
  uint64_t completed;
  uint32_t parallel;
  uint32_t live; /* handles still queued or running */
  whandle_t* handles;
};

/* Pool thread: a little work, the same in both modes. */
static void execute_body(whandle_t* h) {
  uint64_t a = h->acc;
  for (int i = 0; i < 64; i++) a = a * 6364136223846793005u + 1442695040888963407u;
  h->acc = a;
}

static void raw_execute(napi_env env, void* data) { execute_body(data); }
static void tracked_execute(void* data) { execute_body(data); }

static int queue_handle(whandle_t* h) {
  wrun_t* r = h->run;
  r->queued++;
  if (r->tracked) return nat->work_queue(h->tracked);
  return napi_queue_async_work(r->env, h->raw) == napi_ok ? 0 : NAT_ENAPI;
}

static void wrun_end(napi_env env, wrun_t* r) {
  for (uint32_t i = 0; i < r->parallel; i++) {
    if (r->tracked)
      nat->work_delete(r->handles[i].tracked);
    else
      napi_delete_async_work(env, r->handles[i].raw);
  }
  napi_value done;
  napi_get_reference_value(env, r->done, &done);
  napi_delete_reference(env, r->done);
  napi_delete_reference(env, r->cb);
  free(r->handles);
  free(r);
  call0(env, done);
}

/* JS thread, the same code in both modes. */
static void complete_body(napi_env env, whandle_t* h) {
  wrun_t* r = h->run;
  napi_value cb;
  napi_get_reference_value(env, r->cb, &cb);
  call0(env, cb);
  r->completed++;
  if (r->queued < r->total && queue_handle(h) == 0) return;
  if (--r->live == 0) wrun_end(env, r);
}

static void raw_complete(napi_env env, napi_status status, void* data) {
  complete_body(env, data);
}

static void tracked_complete(napi_env env, napi_status status, void* data) {
  complete_body(env, data);
}

static napi_value js_work_run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char mode[16] = "";
  napi_get_value_string_utf8(env, argv[0], mode, sizeof(mode), NULL);
  wrun_t* r = calloc(1, sizeof(*r));
  r->tracked = strcmp(mode, "tracked") == 0;
  r->env = env;
  r->total = (uint64_t)arg_num(env, argv[1]);
  r->parallel = (uint32_t)arg_num(env, argv[2]);
  if (r->parallel == 0) r->parallel = 1;
  r->handles = calloc(r->parallel, sizeof(whandle_t));
  napi_create_reference(env, argv[3], 1, &r->cb);
  napi_create_reference(env, argv[4], 1, &r->done);
  const char* name = "bench:work";
  napi_value res_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res_name);
  for (uint32_t i = 0; i < r->parallel; i++) {
    whandle_t* h = &r->handles[i];
    h->run = r;
    h->acc = i;
    if (r->tracked) {
      nat_work_options_t o = {sizeof(o), name, tracked_execute,
                              tracked_complete, h};
      int err = nat->work_create(env, &o, &h->tracked);
      if (err != 0) return throw_msg(env, "work_create", err);
    } else {
      napi_status st = napi_create_async_work(env, NULL, res_name, raw_execute,
                                              raw_complete, h, &h->raw);
      if (st != napi_ok) return throw_msg(env, "napi_create_async_work", st);
    }
  }
  for (uint32_t i = 0; i < r->parallel && r->queued < r->total; i++) {
    int err = queue_handle(&r->handles[i]);
    if (err != 0) return throw_msg(env, "queue", err);
    r->live++;
  }
  return NULL;
}

/* ---- issue 13: the seed pattern ------------------------------------------ */

/*
 * seedRun(mode, total, producers, cb, done) -> handle
 *   The seed pattern of issue 13: native producers make items ready on an
 *   unbounded queue in non-blocking mode, and call_js calls cb(i), the same
 *   JS function with one int argument, in every mode.
 *   Native-linked modes (each of `producers` threads links and readies
 *   total/producers items, as fast as it can):
 *     'raw'     napi_threadsafe_function, data = the item number
 *     'shared'  tracked queue, NAT_QUEUE_SHARED_CONTEXT, queue_link +
 *               queue_ready on the producer thread
 *     'rawrec'  a floor, not a design: 'raw' plus the recording alone, the
 *               four records of each item through the public manual marks
 *               (link + ready on the producer, frame_begin/frame_end
 *               around the JS call in call_js), with no queue or context
 *               of ours; what any design that records the model pays
 *               beyond the raw threadsafe function
 *   JS-linked modes (JS calls seedLink(handle) per item, e.g. inside
 *   als.run; one producer thread makes them ready):
 *     'hand'    raw tsfn + a hand-written per-item context: napi_async_init
 *               at link, napi_make_callback in call_js (the only way by
 *               hand that carries AsyncLocalStorage on Node 20-26)
 *     'task'    tracked queue with a context per task (queue_link on the
 *               JS thread)
 *     'rawjs'   raw tsfn, items linked from JS like 'hand' but with no
 *               context of their own (the callback runs in the tsfn's):
 *               the JS-linked workload as async_hooks alone sees it
 *     'handtramp' a floor for Node 24+, not a design: 'hand' where call_js
 *               (C code) must run inside the restored context, as a
 *               tracked queue's call_js does: napi_make_callback needs a
 *               JS function, so it enters a native function made once
 *               per run that calls cb(i) (on 24+ napi_open_callback_scope
 *               does not restore AsyncLocalStorage; see src/napi/env.c)
 *   After `total` callbacks the queue is released, the producers joined,
 *   and done(jsThreadCpuNs, producersCpuNs) called: the CPU time of the JS
 *   thread during the run and that of all producer threads.
 */
enum { S_RAW = 0, S_SHARED = 1, S_HAND = 2, S_TASK = 3, S_RAWREC = 4,
       S_HANDTRAMP = 5, S_RAWJS = 6 };

typedef struct sitem_s {
  struct sitem_s* next;
  nat_task_t* task;          /* task */
  napi_async_context ctx;    /* hand */
  napi_ref resource;         /* hand */
  uint32_t seq;
} sitem_t;

typedef struct srun_s {
  int mode;
  napi_env env;
  napi_threadsafe_function tsfn;
  nat_queue_t* q;
  nat_site_t site; /* rawrec */
  napi_ref tramp;  /* handtramp: the native function entered */
  napi_value tramp_cb; /* handtramp: what it calls, during the call only */
  uint32_t tramp_seq;
  napi_ref done;
  uint64_t total;
  uint64_t completed; /* JS thread */
  uint32_t linked;    /* JS thread */
  int producers;
  uv_thread_t th[16];
  _Atomic uint64_t producer_cpu_ns;
  uint64_t js_cpu0;
  /* JS-linked modes: items linked, not yet ready */
  uv_mutex_t mu;
  uv_cond_t cv;
  sitem_t* head;
  sitem_t** tailp;
  int stop;
  int sleeping;
  int finished;
} srun_t;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct {
  srun_t* r;
  uint32_t first;
  uint32_t count;
} sprod_t;

static void seed_producer(void* arg) {
  sprod_t a = *(sprod_t*)arg;
  free(arg);
  srun_t* r = a.r;
  uint64_t c0 = thread_cpu_ns();
  for (uint32_t i = 0; i < a.count; i++) {
    uintptr_t seq = a.first + i;
    if (r->mode == S_RAWREC) {
      /* The item's link and ready; the ready ID travels as the data. */
      nat_id_t link = 0, ready = 0;
      nat->link(r->site, &link);
      nat->ready(r->site, link, &ready);
      while (napi_call_threadsafe_function(r->tsfn, (void*)(uintptr_t)ready,
                                           napi_tsfn_nonblocking) ==
             napi_queue_full) {
      }
    } else if (r->mode == S_RAW) {
      while (napi_call_threadsafe_function(r->tsfn, (void*)seq,
                                           napi_tsfn_nonblocking) ==
             napi_queue_full) {
      }
    } else {
      nat_task_t* t;
      if (nat->queue_link(r->q, &t) != 0) abort();
      if (nat->queue_ready(t, (void*)seq, napi_tsfn_nonblocking) != 0)
        abort();
    }
  }
  atomic_fetch_add(&r->producer_cpu_ns, thread_cpu_ns() - c0);
  if (r->mode == S_RAW || r->mode == S_RAWREC)
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  else
    nat->queue_release(r->q);
}

/* JS-linked modes: the one producer readies what JS linked. */
static void seed_readier(void* arg) {
  srun_t* r = arg;
  uint64_t c0 = thread_cpu_ns();
  for (;;) {
    uv_mutex_lock(&r->mu);
    while (r->head == NULL && !r->stop) {
      r->sleeping = 1;
      uint64_t c = thread_cpu_ns();
      uv_cond_wait(&r->cv, &r->mu);
      c0 += thread_cpu_ns() - c; /* not counting the wait itself */
      r->sleeping = 0;
    }
    sitem_t* list = r->head;
    r->head = NULL;
    r->tailp = &r->head;
    int stop = r->stop;
    uv_mutex_unlock(&r->mu);
    while (list != NULL) {
      sitem_t* it = list;
      list = it->next;
      if (r->mode == S_HAND || r->mode == S_HANDTRAMP || r->mode == S_RAWJS)
        napi_call_threadsafe_function(r->tsfn, it, napi_tsfn_nonblocking);
      else
        nat->queue_ready(it->task, it, napi_tsfn_nonblocking);
    }
    if (stop) break;
  }
  atomic_fetch_add(&r->producer_cpu_ns, thread_cpu_ns() - c0);
}

static void seed_finish(napi_env env, srun_t* r) {
  if (r->mode == S_HAND || r->mode == S_TASK || r->mode == S_HANDTRAMP ||
      r->mode == S_RAWJS) {
    uv_mutex_lock(&r->mu);
    r->stop = 1;
    uv_cond_signal(&r->cv);
    uv_mutex_unlock(&r->mu);
  }
  for (int i = 0; i < r->producers; i++) uv_thread_join(&r->th[i]);
  uint64_t js_cpu = thread_cpu_ns() - r->js_cpu0;
  if (r->mode == S_RAW || r->mode == S_HAND || r->mode == S_RAWREC ||
      r->mode == S_HANDTRAMP || r->mode == S_RAWJS)
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  else
    nat->queue_release(r->q);
  napi_value done, undefined, args[2];
  napi_get_reference_value(env, r->done, &done);
  napi_get_undefined(env, &undefined);
  napi_create_double(env, (double)js_cpu, &args[0]);
  napi_create_double(env, (double)atomic_load(&r->producer_cpu_ns), &args[1]);
  r->finished = 1;
  napi_call_function(env, undefined, done, 2, args, NULL);
}

static void seed_call(napi_env env, napi_value js_cb, srun_t* r,
                      uint32_t seq) {
  napi_value undefined, arg;
  napi_get_undefined(env, &undefined);
  napi_create_uint32(env, seq, &arg);
  napi_call_function(env, undefined, js_cb, 1, &arg, NULL);
  if (++r->completed == r->total) seed_finish(env, r);
}

/* handtramp: the native function napi_make_callback enters; it runs the
 * item's C part, here the call of cb(i) (seed_call). */
static napi_value seed_tramp(napi_env env, napi_callback_info info) {
  srun_t* r = NULL;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void**)&r);
  if (r != NULL && r->tramp_cb != NULL)
    seed_call(env, r->tramp_cb, r, r->tramp_seq);
  return NULL;
}

static void seed_raw_call_js(napi_env env, napi_value js_cb, void* context,
                             void* data) {
  srun_t* r = context;
  if (env == NULL) {
    if (r->mode == S_HAND || r->mode == S_HANDTRAMP || r->mode == S_RAWJS)
      free(data);
    return;
  }
  if (r->mode == S_RAW) {
    seed_call(env, js_cb, r, (uint32_t)(uintptr_t)data);
    return;
  }
  if (r->mode == S_RAWJS) {
    sitem_t* it = data;
    uint32_t seq = it->seq;
    free(it);
    seed_call(env, js_cb, r, seq);
    return;
  }
  if (r->mode == S_RAWREC) {
    nat_id_t exec = 0;
    int framed = nat->frame_begin(r->site, (nat_id_t)(uintptr_t)data,
                                  &exec) == 0;
    seed_call(env, js_cb, r, (uint32_t)r->completed);
    if (framed) nat->frame_end(exec);
    return;
  }
  /* hand: the item's own context, entered with napi_make_callback. */
  sitem_t* it = data;
  napi_value resource, arg;
  napi_get_reference_value(env, it->resource, &resource);
  if (r->mode == S_HANDTRAMP) {
    napi_value tramp;
    napi_get_reference_value(env, r->tramp, &tramp);
    r->tramp_cb = js_cb;
    r->tramp_seq = it->seq;
    napi_make_callback(env, it->ctx, resource, tramp, 0, NULL, NULL);
    r->tramp_cb = NULL;
    napi_async_destroy(env, it->ctx);
    napi_delete_reference(env, it->resource);
    free(it);
    return;
  }
  napi_create_uint32(env, it->seq, &arg);
  napi_make_callback(env, it->ctx, resource, js_cb, 1, &arg, NULL);
  napi_async_destroy(env, it->ctx);
  napi_delete_reference(env, it->resource);
  free(it);
  if (++r->completed == r->total) seed_finish(env, r);
}

static void seed_tracked_call_js(napi_env env, napi_value js_cb,
                                 void* context, void* data) {
  srun_t* r = context;
  if (r->mode == S_SHARED) {
    seed_call(env, js_cb, r, (uint32_t)(uintptr_t)data);
    return;
  }
  sitem_t* it = data;
  uint32_t seq = it->seq;
  free(it);
  seed_call(env, js_cb, r, seq);
}

static void seed_drop(void* context, void* data) {
  srun_t* r = context;
  if (r->mode == S_TASK) free(data);
}

static void seed_free(napi_env env, void* data, void* hint) {
  srun_t* r = data;
  napi_delete_reference(env, r->done);
  if (r->tramp != NULL) napi_delete_reference(env, r->tramp);
  uv_mutex_destroy(&r->mu);
  uv_cond_destroy(&r->cv);
  free(r);
}

static napi_value js_seed_run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char mode[16] = "";
  napi_get_value_string_utf8(env, argv[0], mode, sizeof(mode), NULL);
  srun_t* r = calloc(1, sizeof(*r));
  r->mode = strcmp(mode, "raw") == 0      ? S_RAW
            : strcmp(mode, "shared") == 0 ? S_SHARED
            : strcmp(mode, "hand") == 0   ? S_HAND
            : strcmp(mode, "rawrec") == 0 ? S_RAWREC
            : strcmp(mode, "handtramp") == 0 ? S_HANDTRAMP
            : strcmp(mode, "rawjs") == 0 ? S_RAWJS
                                          : S_TASK;
  r->env = env;
  r->total = (uint64_t)arg_num(env, argv[1]);
  r->producers = (int)arg_num(env, argv[2]);
  if (r->producers < 1 || r->producers > 16) r->producers = 1;
  int js_linked = r->mode == S_HAND || r->mode == S_TASK ||
                  r->mode == S_HANDTRAMP || r->mode == S_RAWJS;
  if (js_linked) r->producers = 1;
  napi_create_reference(env, argv[4], 1, &r->done);
  uv_mutex_init(&r->mu);
  uv_cond_init(&r->cv);
  r->tailp = &r->head;
  /* The JS thread's reference plus one per native-linking producer. */
  size_t refs = 1 + (js_linked ? 0 : (size_t)r->producers);
  const char* name = "bench:seed";
  if (r->mode == S_RAWREC) {
    int err = nat->site(name, &r->site);
    if (err != 0) return throw_msg(env, "site", err);
  }
  if (r->mode == S_HANDTRAMP) {
    napi_value fn;
    napi_create_function(env, "seedTramp", NAPI_AUTO_LENGTH, seed_tramp, r,
                         &fn);
    napi_create_reference(env, fn, 1, &r->tramp);
  }
  if (r->mode == S_RAW || r->mode == S_HAND || r->mode == S_RAWREC ||
      r->mode == S_HANDTRAMP || r->mode == S_RAWJS) {
    napi_value res_name;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res_name);
    napi_status st = napi_create_threadsafe_function(
        env, argv[3], NULL, res_name, 0, refs, NULL, NULL, r,
        seed_raw_call_js, &r->tsfn);
    if (st != napi_ok)
      return throw_msg(env, "napi_create_threadsafe_function", st);
  } else {
    nat_queue_options_t o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.name = name;
    o.func = argv[3];
    o.initial_thread_count = refs;
    o.flags = r->mode == S_SHARED ? NAT_QUEUE_SHARED_CONTEXT : 0;
    o.context = r;
    o.call_js = seed_tracked_call_js;
    o.drop = seed_drop;
    int err = nat->queue_create(env, &o, &r->q);
    if (err != 0) return throw_msg(env, "queue_create", err);
  }
  r->js_cpu0 = thread_cpu_ns();
  if (js_linked) {
    uv_thread_create(&r->th[0], seed_readier, r);
  } else {
    uint32_t per = (uint32_t)(r->total / (uint64_t)r->producers);
    for (int i = 0; i < r->producers; i++) {
      sprod_t* a = malloc(sizeof(*a));
      a->r = r;
      a->first = (uint32_t)i * per;
      a->count = i == r->producers - 1 ? (uint32_t)r->total - a->first : per;
      uv_thread_create(&r->th[i], seed_producer, a);
    }
  }
  napi_value ext;
  napi_create_external(env, r, seed_free, NULL, &ext);
  return ext;
}

/* seedLink(handle): JS-linked modes, one item linked in the caller's
 * frame and context and handed to the producer. */
static napi_value js_seed_link(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  srun_t* r = NULL;
  napi_get_value_external(env, argv[0], (void**)&r);
  if (r == NULL || r->finished) return NULL;
  sitem_t* it = malloc(sizeof(*it));
  it->next = NULL;
  it->seq = r->linked++;
  if (r->mode == S_HAND || r->mode == S_HANDTRAMP) {
    napi_value resource, name;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "bench:seed", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, resource, name, &it->ctx);
    napi_create_reference(env, resource, 1, &it->resource);
  } else if (r->mode == S_RAWJS) {
    /* no context: the callback runs in the threadsafe function's */
  } else {
    int err = nat->queue_link(r->q, &it->task);
    if (err != 0) {
      free(it);
      return throw_msg(env, "queue_link", err);
    }
  }
  uv_mutex_lock(&r->mu);
  *r->tailp = it;
  r->tailp = &it->next;
  if (r->sleeping) uv_cond_signal(&r->cv);
  uv_mutex_unlock(&r->mu);
  return NULL;
}

/* ---- marks -------------------------------------------------------------- */

/* chain(n): n link/ready/begin/end items on the JS thread (4n events). */
static napi_value js_chain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint64_t n = (uint64_t)arg_num(env, argv[0]);
  nat_site_t site;
  int err = nat->site("bench:chain", &site);
  if (err != 0) return throw_msg(env, "site", err);
  for (uint64_t i = 0; i < n; i++) {
    nat_id_t link, ready, exec;
    nat->link(site, &link);
    nat->ready(site, link, &ready);
    if (nat->frame_begin(site, ready, &exec) != 0) break;
    nat->frame_end(exec);
  }
  return NULL;
}

#define EXPORTS(V)              \
  V("queueRun", js_queue_run)   \
  V("seedRun", js_seed_run)     \
  V("seedLink", js_seed_link)   \
  V("workRun", js_work_run)     \
  V("chain", js_chain)

NAPI_MODULE_INIT() {
  if (nat_import(env, &nat) != 0) return NULL; /* a JS error is pending */
  napi_property_descriptor props[] = {
#define V(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL},
      EXPORTS(V)
#undef V
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]),
                         props);
  return exports;
}
