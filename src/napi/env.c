/*
 * Per-env state and the frame stack of each JS thread.
 */
#include <stdlib.h>

#include "nat_napi.h"

static _Thread_local nat__env_t* tls_env = NULL;
static _Atomic uint32_t env_serials = 0;

nat__env_t* nat__env_current(void) { return tls_env; }

void nat__env_set_current(nat__env_t* e) { tls_env = e; }

uint32_t nat__env_next_serial(void) {
  return atomic_fetch_add_explicit(&env_serials, 1, memory_order_relaxed) + 1;
}

void nat__mark_link(uint32_t site, uint32_t env, uint64_t execute_id,
                    uint64_t* link_id) {
  if (!nat__is_enabled()) {
    *link_id = 0;
    return;
  }
  *link_id = nat__id_next();
  nat__emit(NAT_EV_LINK, execute_id, *link_id, 0, site, env);
}

void nat__mark_ready(uint32_t site, uint32_t env, uint64_t execute_id,
                     uint64_t link_id, uint64_t* ready_id) {
  if (!nat__is_enabled()) {
    *ready_id = 0;
    return;
  }
  *ready_id = nat__id_next();
  nat__emit(NAT_EV_READY, execute_id, link_id, *ready_id, site, env);
}

int nat__frame_begin(nat__env_t* e, uint32_t site, uint64_t ready_id,
                     uint64_t* execute_id) {
  if (e->depth == e->frames_cap) {
    if (e->frames_cap >= NAT__MAX_FRAME_DEPTH) return NAT_EFRAME;
    uint32_t cap = e->frames_cap ? e->frames_cap * 2 : 32;
    uint64_t* f = realloc(e->frames, cap * sizeof(*f));
    if (f == NULL) return NAT_ENOMEM;
    e->frames = f;
    e->frames_cap = cap;
  }
  uint64_t id = 0;
  if (nat__is_enabled()) {
    id = nat__id_next();
    nat__emit(NAT_EV_EXECUTION_BEGIN, id, 0, ready_id, site, e->serial);
  }
  e->frames[e->depth++] = id;
  *execute_id = id;
  return 0;
}

int nat__frame_end(nat__env_t* e, uint64_t execute_id) {
  if (e->depth == 0 || e->frames[e->depth - 1] != execute_id)
    return NAT_EFRAME;
  e->depth--;
  if (execute_id != 0)
    nat__emit(NAT_EV_EXECUTION_END, execute_id, 0, 0, 0, e->serial);
  return 0;
}

uint64_t nat__frame_current(const nat__env_t* e) {
  return e->depth ? e->frames[e->depth - 1] : 0;
}
