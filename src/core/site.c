/*
 * Interned site names (`module:kind`). Records carry a 32-bit index instead
 * of a string. Interning happens when a queue or site is created, never per
 * event, so one mutex guards the table; lookups by index (from drain-side
 * code on a JS thread) take the same mutex.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nat_core.h"

typedef struct {
  char* name;
  uint32_t len;
  uint32_t hash;
} nat__site_t;

static uv_once_t site_once = UV_ONCE_INIT;
static uv_mutex_t site_mutex;

/* names[0] is the empty site. `slots` is an open-addressing table of
 * indexes into names (0 = empty slot), sized a power of two, kept at most
 * half full. */
static nat__site_t* names;
static uint32_t names_len;
static uint32_t names_cap;
static uint32_t* slots;
static uint32_t slots_cap;

static void site_init_once(void) {
  if (uv_mutex_init(&site_mutex) != 0) abort();
}

static uint32_t site_hash(const char* s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

/* Called with site_mutex held. */
static int site_grow_slots(void) {
  uint32_t cap = slots_cap ? slots_cap * 2 : 64;
  uint32_t* s = calloc(cap, sizeof(*s));
  if (s == NULL) return NAT_ENOMEM;
  for (uint32_t i = 1; i < names_len; i++) {
    uint32_t j = names[i].hash & (cap - 1);
    while (s[j] != 0) j = (j + 1) & (cap - 1);
    s[j] = i;
  }
  free(slots);
  slots = s;
  slots_cap = cap;
  return 0;
}

int32_t nat__site_intern(const char* name, size_t len) {
  if (name == NULL || len == 0) return NAT_EINVAL;
  if (len > NAT_SITE_NAME_MAX) return NAT_ENAMETOOLONG;
  if (memchr(name, '\0', len) != NULL) return NAT_EINVAL;

  uv_once(&site_once, site_init_once);
  uint32_t h = site_hash(name, len);
  int32_t result;

  uv_mutex_lock(&site_mutex);
  if (names_len == 0) {
    /* Site 0, the empty site, is created lazily so reset can drop it. */
    names_cap = 16;
    names = calloc(names_cap, sizeof(*names));
    if (names == NULL) {
      result = NAT_ENOMEM;
      goto out;
    }
    names_len = 1;
  }
  if (slots_cap == 0 && site_grow_slots() != 0) {
    result = NAT_ENOMEM;
    goto out;
  }
  uint32_t j = h & (slots_cap - 1);
  for (; slots[j] != 0; j = (j + 1) & (slots_cap - 1)) {
    nat__site_t* s = &names[slots[j]];
    if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0) {
      result = (int32_t)slots[j];
      goto out;
    }
  }
  /* Keep the load factor at or below one half before inserting, so the
   * probe loops above always find an empty slot; if the table cannot grow,
   * the insert fails instead of filling it. */
  if (2 * (names_len + 1) > slots_cap) {
    if (site_grow_slots() != 0) {
      result = NAT_ENOMEM;
      goto out;
    }
    j = h & (slots_cap - 1);
    while (slots[j] != 0) j = (j + 1) & (slots_cap - 1);
  }
  if (names_len == names_cap) {
    nat__site_t* n = realloc(names, 2 * names_cap * sizeof(*names));
    if (n == NULL) {
      result = NAT_ENOMEM;
      goto out;
    }
    names = n;
    names_cap *= 2;
  }
  char* copy = malloc(len + 1);
  if (copy == NULL) {
    result = NAT_ENOMEM;
    goto out;
  }
  memcpy(copy, name, len);
  copy[len] = '\0';
  uint32_t index = names_len++;
  names[index] = (nat__site_t){copy, (uint32_t)len, h};
  slots[j] = index;
  result = (int32_t)index;
out:
  uv_mutex_unlock(&site_mutex);
  return result;
}

uint32_t nat__site_count(void) {
  uv_once(&site_once, site_init_once);
  uv_mutex_lock(&site_mutex);
  uint32_t n = names_len ? names_len : 1;
  uv_mutex_unlock(&site_mutex);
  return n;
}

int nat__site_name(uint32_t index, char* buf, size_t size) {
  if (buf == NULL || size == 0) return NAT_EINVAL;
  uv_once(&site_once, site_init_once);
  uv_mutex_lock(&site_mutex);
  int result;
  if (index == 0) {
    buf[0] = '\0';
    result = 0;
  } else if (index >= names_len || names[index].len + 1 > size) {
    result = NAT_EINVAL;
  } else {
    memcpy(buf, names[index].name, names[index].len + 1);
    result = (int)names[index].len;
  }
  uv_mutex_unlock(&site_mutex);
  return result;
}

/* Part of nat__core_reset: no other thread may intern meanwhile. */
void nat__site_reset(void) {
  uv_once(&site_once, site_init_once);
  uv_mutex_lock(&site_mutex);
  for (uint32_t i = 1; i < names_len; i++) free(names[i].name);
  free(names);
  free(slots);
  names = NULL;
  slots = NULL;
  names_len = names_cap = slots_cap = 0;
  uv_mutex_unlock(&site_mutex);
}
