/*
 * The function table other addons import (include/napi_async_trace.h).
 * Each function checks its thread and arguments and returns a nat_errno_t;
 * none touches JS, so none needs a napi_env.
 */
#include <string.h>

#include "nat_napi.h"

const char* nat__strerror(int err) {
  switch (err) {
    case 0:
      return "success";
#define NAT__ERR_MSG(name, value, msg) \
  case NAT_##name:                      \
    return msg;
    NAT_ERRNO_MAP(NAT__ERR_MSG)
#undef NAT__ERR_MSG
    default:
      return "unknown error";
  }
}

const char* nat__err_name(int err) {
  switch (err) {
    case 0:
      return "OK";
#define NAT__ERR_NAME(name, value, msg) \
  case NAT_##name:                       \
    return #name;
    NAT_ERRNO_MAP(NAT__ERR_NAME)
#undef NAT__ERR_NAME
    default:
      return "EUNKNOWN";
  }
}

static int api_enabled(void) { return nat__is_enabled(); }

static int api_site(const char* name, nat_site_t* out) {
  nat__env_t* e = nat__env_current();
  if (e == NULL) return NAT_EWRONGTHREAD;
  if (out == NULL) return NAT_EINVAL;
  int32_t index = nat__intern_name(name, NULL);
  if (index < 0) return index;
  out->index = (uint32_t)index;
  out->env = e->serial;
  return 0;
}

static int api_link(nat_site_t site, nat_id_t* link_id) {
  if (link_id == NULL) return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  nat__mark_link(site.index, site.env, e ? nat__frame_current(e) : 0,
                 link_id);
  return 0;
}

static int api_link_from(nat_site_t site, nat_id_t execute_id,
                         nat_id_t* link_id) {
  if (link_id == NULL) return NAT_EINVAL;
  nat__mark_link(site.index, site.env, execute_id, link_id);
  return 0;
}

static int api_ready(nat_site_t site, nat_id_t link_id, nat_id_t* ready_id) {
  if (ready_id == NULL) return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  nat__mark_ready(site.index, site.env, e ? nat__frame_current(e) : 0,
                  link_id, ready_id);
  return 0;
}

static int api_frame_begin(nat_site_t site, nat_id_t ready_id,
                           nat_id_t* execute_id) {
  if (execute_id == NULL) return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  if (e == NULL) return NAT_EWRONGTHREAD;
  return nat__frame_begin(e, site.index, ready_id, execute_id);
}

static int api_frame_end(nat_id_t execute_id) {
  nat__env_t* e = nat__env_current();
  if (e == NULL) return NAT_EWRONGTHREAD;
  return nat__frame_end(e, execute_id);
}

static int api_current_frame(nat_id_t* execute_id) {
  if (execute_id == NULL) return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  if (e == NULL) return NAT_EWRONGTHREAD;
  *execute_id = nat__frame_current(e);
  return 0;
}

const nat_api_t nat__api = {
    .size = sizeof(nat_api_t),
    .magic = NAT_API_MAGIC,
    .abi_major = NAT_ABI_MAJOR,
    .abi_minor = NAT_ABI_MINOR,
    .version = NAT_VERSION,
    .strerror = nat__strerror,
    .err_name = nat__err_name,
    .enabled = api_enabled,
    .site = api_site,
    .link = api_link,
    .link_from = api_link_from,
    .ready = api_ready,
    .frame_begin = api_frame_begin,
    .frame_end = api_frame_end,
    .current_frame = api_current_frame,
    .queue_create = nat__queue_create,
    .queue_link = nat__queue_link,
    .queue_ready = nat__queue_ready,
    .task_cancel = nat__task_cancel,
    .queue_acquire = nat__queue_acquire,
    .queue_release = nat__queue_release,
    .queue_abort = nat__queue_abort,
    .queue_ref = nat__queue_ref,
    .queue_unref = nat__queue_unref,
    .task_ids = nat__task_ids,
    .work_create = nat__work_create,
    .work_queue = nat__work_queue,
    .work_cancel = nat__work_cancel,
    .work_delete = nat__work_delete,
    .task_traceparent = nat__task_traceparent,
    .work_traceparent = nat__work_traceparent,
    .task_size = nat__task_size,
    .queue_link_into = nat__queue_link_into,
};
