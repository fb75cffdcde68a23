/*
 * Consumers: one subscription per reader of the event stream, instead of
 * one destructive process-wide drain.
 *
 * The rings of src/core have one consumer side (nat__drain takes records
 * out for good). Several readers want every event: the program's own
 * drain() and track(), the CLI recorder, the OpenTelemetry bridge, in any
 * env (main thread or Worker). The hub is that one consumer: a drain by any
 * subscriber first pulls whatever the rings hold and appends a copy to the
 * queue of every open subscriber, then hands the caller what its own queue
 * holds. A subscriber that does not drain cannot hold the others back or
 * grow without bound: its queue stops at its limit and the records that did
 * not fit are counted (lost), reported to it as one NAT_EV_LOST record with
 * NAT_RECORD_FLAG_CONSUMER at its next drain, and shown in its stats.
 *
 * Threads: every function here runs on some env's JS thread (the binding's
 * callers). Subscribers of several envs share the hub, so one mutex guards
 * the list and every queue; it is taken before the core's drain lock (the
 * pull calls nat__drain with it held) and never the other way round. The
 * core's drain alloc callback only mallocs, as the core requires.
 *
 * Lifetime: a subscriber belongs to the JS External that subscribe()
 * returned. close() takes it off the list and frees its queue; the
 * External's finalizer (at GC, or at env teardown, when Node finalizes
 * every reference of the env) does the same if close() was never called,
 * then frees the struct. So a tracker whose promise never settles stops
 * costing anything once it is garbage.
 */
#include <stdlib.h>
#include <string.h>

#include "nat_napi.h"

typedef struct nat__chunk_s {
  struct nat__chunk_s* next;
  size_t count; /* records in recs */
  size_t off;   /* records already handed out */
  nat_record_t recs[];
} nat__chunk_t;

typedef struct nat__sub_s {
  struct nat__sub_s* next; /* on the hub list while open */
  nat__chunk_t* head;
  nat__chunk_t* tail;
  uint64_t queued;    /* records waiting in head..tail */
  uint64_t limit;     /* most records queued at once */
  uint64_t delivered; /* records handed to JS, ever (markers excluded) */
  uint64_t lost;      /* records that did not fit or that JS failed on, ever */
  uint64_t unreported; /* of lost, not yet reported by a marker */
  uint32_t env;       /* serial of the env that subscribed */
  int open;
  char name[64];
} nat__sub_t;

static uv_once_t hub_once = UV_ONCE_INIT;
static uv_mutex_t hub_mutex;
static nat__sub_t* hub_list; /* open subscribers, guarded by hub_mutex */

static void hub_init_once(void) {
  if (uv_mutex_init(&hub_mutex) != 0) abort();
}

static nat__chunk_t* chunk_new(size_t count) {
  nat__chunk_t* c = malloc(sizeof(*c) + count * sizeof(nat_record_t));
  if (c == NULL) return NULL;
  c->next = NULL;
  c->count = count;
  c->off = 0;
  return c;
}

static void sub_free_queue(nat__sub_t* s) {
  nat__chunk_t* c = s->head;
  while (c != NULL) {
    nat__chunk_t* next = c->next;
    free(c);
    c = next;
  }
  s->head = s->tail = NULL;
  s->queued = 0;
}

/* Takes s off the list. hub_mutex held. */
static void sub_unlink(nat__sub_t* s) {
  for (nat__sub_t** p = &hub_list; *p != NULL; p = &(*p)->next) {
    if (*p == s) {
      *p = s->next;
      break;
    }
  }
  s->next = NULL;
  s->open = 0;
  sub_free_queue(s);
}

typedef struct {
  nat__chunk_t* chunk;
} pull_ctx_t;

/* The core's alloc callback: runs under the core's drain lock; only
 * allocates. */
static nat_record_t* pull_alloc(void* ud, size_t count) {
  pull_ctx_t* p = ud;
  p->chunk = chunk_new(count);
  return p->chunk == NULL ? NULL : p->chunk->recs;
}

/* Appends the first records of src (n of them) to s, as many as fit, and
 * counts the rest. With `give`, src itself is handed over instead of copied
 * when all of it fits, and *src is then NULLed. hub_mutex held. */
static void sub_append(nat__sub_t* s, nat__chunk_t** src, size_t n,
                       int give) {
  uint64_t room = s->queued < s->limit ? s->limit - s->queued : 0;
  size_t k = n <= room ? n : (size_t)room;
  nat__chunk_t* c = NULL;
  if (k == n && give) {
    c = *src;
    *src = NULL;
  } else if (k > 0) {
    c = chunk_new(k);
    if (c == NULL) k = 0; /* out of memory: counted as lost below */
    else memcpy(c->recs, (*src)->recs, k * sizeof(nat_record_t));
  }
  if (c != NULL) {
    if (s->tail != NULL) s->tail->next = c;
    else s->head = c;
    s->tail = c;
    s->queued += k;
  }
  s->lost += n - k;
  s->unreported += n - k;
}

/* Puts recs[0..n) in time order, stably (records of equal stamps keep
 * their order, so each thread's records stay in its own order). Needed
 * when one hand-out spans chunks of several pulls: a record committed
 * just after one pull's snapshot, stamped before that pull's last records
 * (or its lost markers), arrives in the next pull. Such inversions are
 * rare, so the check is one pass and the sort a bottom-up merge through
 * a scratch buffer; on allocation failure the records stay as they are
 * (each thread's order is intact either way). hub_mutex held. */
static void order_by_time(nat_record_t* recs, size_t n) {
  size_t i = 1;
  while (i < n && recs[i - 1].ts <= recs[i].ts) i++;
  if (i >= n) return;
  nat_record_t* tmp = malloc(n * sizeof(*tmp));
  if (tmp == NULL) return;
  nat_record_t* src = recs;
  nat_record_t* dst = tmp;
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t a = lo, b = mid, k = lo;
      while (a < mid && b < hi) dst[k++] = src[b].ts < src[a].ts ? src[b++] : src[a++];
      while (a < mid) dst[k++] = src[a++];
      while (b < hi) dst[k++] = src[b++];
    }
    nat_record_t* t = src;
    src = dst;
    dst = t;
  }
  if (src != recs) memcpy(recs, src, n * sizeof(*recs));
  free(tmp);
}

/* Moves what the rings hold into every open subscriber's queue. Returns 0
 * or a negative NAT_E* code (nothing was consumed). hub_mutex held. */
static int hub_pull(void) {
  pull_ctx_t p = {NULL};
  int64_t n = nat__drain(pull_alloc, &p, 0);
  if (n < 0) return (int)n;
  if (n == 0) return 0;
  /* The last subscriber gets the drained chunk itself when it all fits;
   * the others get copies. Records are copied before that hand-over, so
   * the order of the list does not matter. */
  nat__chunk_t* own = p.chunk;
  nat__sub_t* last = NULL;
  for (nat__sub_t* s = hub_list; s != NULL; s = s->next) last = s;
  for (nat__sub_t* s = hub_list; s != NULL; s = s->next)
    if (s != last) sub_append(s, &own, (size_t)n, 0);
  if (last != NULL) sub_append(last, &own, (size_t)n, 1);
  free(own); /* NULL when handed over */
  return 0;
}

/* An ArrayBuffer of `bytes` for records about to be written over whole.
 * Taken from a Node Buffer (napi_create_buffer: its memory is not zeroed
 * first, unlike napi_create_arraybuffer's) when that Buffer owns its
 * whole ArrayBuffer, which is then an ordinary, transferable one; else a
 * plain ArrayBuffer. NULL on failure. JS thread. */
napi_value nat__records_buffer(napi_env env, size_t bytes, void** data) {
  napi_value buf, ab;
  napi_typedarray_type type;
  size_t len = 0, off = 0;
  void* p = NULL;
  if (napi_create_buffer(env, bytes, &p, &buf) == napi_ok &&
      napi_get_typedarray_info(env, buf, &type, &len, &p, &ab, &off) ==
          napi_ok &&
      off == 0 && len == bytes) {
    size_t ab_len = 0;
    void* ab_data = NULL;
    if (napi_get_arraybuffer_info(env, ab, &ab_data, &ab_len) == napi_ok &&
        ab_len == bytes && ab_data == p) {
      *data = p;
      return ab;
    }
  }
  /* Node refused the Buffer (a size past its Buffer limit, say) and may
   * have left an exception for it: cleared, so the plain ArrayBuffer is
   * still tried; its own failure stays pending for the caller. */
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    napi_get_and_clear_last_exception(env, &exc);
  if (napi_create_arraybuffer(env, bytes, data, &ab) != napi_ok) return NULL;
  return ab;
}

/* ---- JS functions ---------------------------------------------------------- */

static nat__sub_t* sub_arg(napi_env env, napi_value v) {
  napi_valuetype t;
  void* data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    nat__throw(env, NAT_EINVAL, "consumer must be a handle from subscribe()");
    return NULL;
  }
  return data;
}

static void sub_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  nat__sub_t* s = data;
  uv_mutex_lock(&hub_mutex);
  if (s->open) sub_unlink(s);
  uv_mutex_unlock(&hub_mutex);
  free(s);
}

/* subscribe(name, limit) -> External. limit: most records queued, >= 1. */
napi_value nat__js_subscribe(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (nat__get_args(env, info, 2, argv) != 0) return NULL;
  uv_once(&hub_once, hub_init_once);
  char name[64];
  size_t len = 0;
  double limit = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) !=
          napi_ok ||
      napi_get_value_double(env, argv[1], &limit) != napi_ok || !(limit >= 1) ||
      limit > 9007199254740991.0) {
    nat__throw(env, NAT_EINVAL,
               "subscribe(name, limit): a string and a limit >= 1");
    return NULL;
  }
  nat__sub_t* s = calloc(1, sizeof(*s));
  if (s == NULL) {
    nat__throw(env, NAT_ENOMEM, NULL);
    return NULL;
  }
  memcpy(s->name, name, len + 1);
  s->limit = (uint64_t)limit;
  nat__env_t* e = NULL;
  if (napi_get_instance_data(env, (void**)&e) == napi_ok && e != NULL)
    s->env = e->serial;
  napi_value ext;
  if (napi_create_external(env, s, sub_finalize, NULL, &ext) != napi_ok) {
    free(s);
    nat__throw(env, NAT_ENAPI, NULL);
    return NULL;
  }
  uv_mutex_lock(&hub_mutex);
  s->open = 1;
  s->next = hub_list;
  hub_list = s;
  uv_mutex_unlock(&hub_mutex);
  return ext;
}

nat_record_t* nat__records_alloc(void* ud, size_t count) {
  nat__records_ctx_t* d = ud;
  void* data = NULL;
  d->buffer = nat__records_buffer(d->env, count * sizeof(nat_record_t), &data);
  return d->buffer == NULL ? NULL : data;
}

/* consume(handle, max) -> ArrayBuffer of at most max records (0: all) and a
 * lost marker when records were lost since the last one, or null. */
napi_value nat__js_consume(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (nat__get_args(env, info, 2, argv) != 0) return NULL;
  nat__sub_t* s = sub_arg(env, argv[0]);
  if (s == NULL) return NULL;
  double dmax = 0;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_undefined &&
      (napi_get_value_double(env, argv[1], &dmax) != napi_ok || !(dmax >= 0) ||
       dmax > 4294967295.0)) {
    nat__throw(env, NAT_EINVAL, "max must be a non-negative integer");
    return NULL;
  }
  uint64_t max = (uint64_t)dmax;
  napi_value result = NULL;
  uv_mutex_lock(&hub_mutex);
  if (!s->open) {
    uv_mutex_unlock(&hub_mutex);
    nat__throw(env, NAT_ECLOSING, "the consumer is closed");
    return NULL;
  }
  /* The common case, one reader that keeps up: the caller is the only
   * subscriber, nothing waits in its queue and it has no loss to report.
   * Then the rings drain straight into the caller's buffer, made in the
   * core's alloc callback once the count is known: one copy, no chunk. At
   * most `max` (and at most `limit`) records are taken, plus the rings'
   * loss markers, as the queued path adds its own; the rest stay in the
   * rings for the next drain (where the rings' own bound counts what
   * cannot wait). Making a JS value under the core's drain
   * lock is safe: a GC it may start runs no code of ours (Node defers
   * Node-API finalizers to the loop), and emitting records takes no lock. */
  if (hub_list == s && s->next == NULL && s->queued == 0 &&
      s->unreported == 0) {
    nat__records_ctx_t d = {env, NULL};
    uint64_t cap = s->limit;
    if (max != 0 && max < cap) cap = max;
    if (cap > (uint64_t)SIZE_MAX) cap = SIZE_MAX;
    int64_t n = nat__drain(nat__records_alloc, &d, (size_t)cap);
    if (n < 0) {
      /* Nothing was taken from the rings. */
      uv_mutex_unlock(&hub_mutex);
      nat__throw(env, (int)n, "drain could not allocate its buffer");
      return NULL;
    }
    s->delivered += (uint64_t)n;
    uv_mutex_unlock(&hub_mutex);
    if (n == 0) napi_get_null(env, &result);
    else result = d.buffer;
    return result;
  }
  int err = hub_pull();
  if (err < 0) {
    uv_mutex_unlock(&hub_mutex);
    nat__throw(env, err, "drain could not allocate its buffer");
    return NULL;
  }
  uint64_t take = s->queued;
  if (max != 0 && take > max) take = max;
  size_t marker = s->unreported > 0 ? 1 : 0;
  if (take + marker == 0) {
    uv_mutex_unlock(&hub_mutex);
    napi_get_null(env, &result);
    return result;
  }
  void* data = NULL;
  if ((result = nat__records_buffer(
           env, (size_t)(take + marker) * sizeof(nat_record_t), &data)) ==
      NULL) {
    uv_mutex_unlock(&hub_mutex);
    nat__throw(env, NAT_ENOMEM, "drain could not allocate its buffer");
    return NULL;
  }
  nat_record_t* out = data;
  uint64_t left = take;
  int spans = s->head != NULL && (uint64_t)(s->head->count - s->head->off) < take;
  while (left > 0) {
    nat__chunk_t* c = s->head;
    size_t have = c->count - c->off;
    size_t k = have <= left ? have : (size_t)left;
    memcpy(out, c->recs + c->off, k * sizeof(nat_record_t));
    out += k;
    left -= k;
    c->off += k;
    if (c->off == c->count) {
      s->head = c->next;
      if (s->head == NULL) s->tail = NULL;
      free(c);
    }
  }
  if (spans) order_by_time(data, (size_t)take);
  s->queued -= take;
  s->delivered += take;
  if (marker) {
    memset(out, 0, sizeof(*out));
    out->ts = nat__now_ns();
    out->type = NAT_EV_LOST;
    out->flags = NAT_RECORD_FLAG_CONSUMER;
    out->link_id = s->unreported;
    s->unreported = 0;
  }
  uv_mutex_unlock(&hub_mutex);
  return result;
}

/* countLost(handle, n): records JS took but could not hand on (a failure
 * after the drain); they are counted as this consumer's loss. */
napi_value nat__js_count_lost(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (nat__get_args(env, info, 2, argv) != 0) return NULL;
  nat__sub_t* s = sub_arg(env, argv[0]);
  if (s == NULL) return NULL;
  double n = 0;
  if (napi_get_value_double(env, argv[1], &n) != napi_ok || !(n >= 0) ||
      n > 9007199254740991.0) {
    nat__throw(env, NAT_EINVAL, "n must be a non-negative integer");
    return NULL;
  }
  uv_mutex_lock(&hub_mutex);
  s->lost += (uint64_t)n;
  s->delivered -= (uint64_t)n <= s->delivered ? (uint64_t)n : s->delivered;
  uv_mutex_unlock(&hub_mutex);
  return NULL;
}

/* unsubscribe(handle): stops the queue and frees it; idempotent. */
napi_value nat__js_unsubscribe(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__sub_t* s = sub_arg(env, argv[0]);
  if (s == NULL) return NULL;
  uv_mutex_lock(&hub_mutex);
  if (s->open) sub_unlink(s);
  uv_mutex_unlock(&hub_mutex);
  return NULL;
}

static void set_num(napi_env env, napi_value o, const char* key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, o, key, n);
}

/* hub_mutex held. */
static napi_value sub_stats(napi_env env, const nat__sub_t* s) {
  napi_value o, v;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  napi_create_string_utf8(env, s->name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "name", v);
  set_num(env, o, "env", s->env);
  set_num(env, o, "queued", (double)s->queued);
  set_num(env, o, "limit", (double)s->limit);
  set_num(env, o, "delivered", (double)s->delivered);
  set_num(env, o, "lost", (double)s->lost);
  napi_get_boolean(env, s->open, &v);
  napi_set_named_property(env, o, "open", v);
  return o;
}

/* consumerStats(handle) -> { name, env, queued, limit, delivered, lost, open } */
napi_value nat__js_consumer_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__sub_t* s = sub_arg(env, argv[0]);
  if (s == NULL) return NULL;
  uv_mutex_lock(&hub_mutex);
  napi_value o = sub_stats(env, s);
  uv_mutex_unlock(&hub_mutex);
  return o;
}

/* consumers() -> the stats of every open consumer of the process. */
napi_value nat__js_consumers(napi_env env, napi_callback_info info) {
  (void)info;
  uv_once(&hub_once, hub_init_once);
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) return NULL;
  uv_mutex_lock(&hub_mutex);
  uint32_t i = 0;
  for (nat__sub_t* s = hub_list; s != NULL; s = s->next)
    napi_set_element(env, arr, i++, sub_stats(env, s));
  uv_mutex_unlock(&hub_mutex);
  return arr;
}
