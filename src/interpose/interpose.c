/*
 * The interposer: see nat_interpose.h for what it does, the thread rules
 * and the platforms. This file reads the dynamic sections of loaded objects
 * as the System V gABI ("Dynamic Section", "Relocation") and the x86_64 and
 * AArch64 psABI supplements describe them, and stores into GOT slots.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dlinfo, RTLD_NOLOAD, dl_iterate_phdr */
#endif

#include "nat_interpose.h"

#include <stdlib.h>
#include <string.h>

#include "napi_async_trace_defs.h"

static const char* const status_msgs[] = {
#define NAT__IP_STATUS_MSG(name, value, msg) [value] = msg,
    NAT_IP_STATUS_MAP(NAT__IP_STATUS_MSG)
#undef NAT__IP_STATUS_MSG
};

const char* nat__ip_status_str(int status) {
  size_t n = sizeof(status_msgs) / sizeof(status_msgs[0]);
  if (status < 0 || (size_t)status >= n || status_msgs[status] == NULL)
    return "unknown status";
  return status_msgs[status];
}

/* Arguments every entry point checks the same way. */
static int check_syms(const nat_ip_sym_t* syms, size_t n) {
  if (n > 0 && syms == NULL) return NAT_EINVAL;
  if (n > UINT32_MAX) return NAT_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (syms[i].name == NULL || syms[i].name[0] == '\0' ||
        syms[i].replacement == NULL)
      return NAT_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(syms[i].name, syms[j].name) == 0) return NAT_EINVAL;
  }
  return 0;
}

/* NAT_IP_FORCE_UNSUPPORTED builds the fallback of other platforms here, for
 * its test (test/core/interpose/unsupported.c). */
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) && \
    !defined(NAT_IP_FORCE_UNSUPPORTED)

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define IP_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define IP_R_GLOB_DAT R_X86_64_GLOB_DAT
#else
#define IP_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define IP_R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

/* Where the protections of our pages are read. The standalone test builds
 * a variant with a path that does not exist, for the fallback. */
#ifndef NAT_IP_MAPS
#define NAT_IP_MAPS "/proc/self/maps"
#endif

/* Both supported targets are 64-bit ELF. */
typedef Elf64_Dyn ip_dyn_t;
typedef Elf64_Sym ip_sym_t;
typedef Elf64_Rela ip_rela_t;
typedef Elf64_Rel ip_rel_t;
typedef Elf64_Phdr ip_phdr_t;
#define IP_R_SYM(info) ELF64_R_SYM(info)
#define IP_R_TYPE(info) ELF64_R_TYPE(info)

int nat__ip_supported(void) { return 1; }

/*
 * One rebound slot: where it is, what it held before our first store, what
 * we stored, and the dynamic section of its object (the object's identity
 * for restore). Guarded by ip_mutex.
 */
typedef struct {
  void** slot;
  void* original;
  void* replacement;
  uintptr_t dyn;
} ip_rec_t;

static pthread_mutex_t ip_mutex = PTHREAD_MUTEX_INITIALIZER;
static ip_rec_t* ip_recs;
static size_t ip_nrecs;
static size_t ip_caprecs;

/* A mapping of /proc/self/maps: [start, end) with its protection. */
typedef struct {
  uintptr_t start;
  uintptr_t end;
  int prot;
} ip_map_t;

/* A report made during the walk and handed to the callback after it. */
typedef struct {
  nat_ip_report_t r;
  char* path;             /* owned copy */
  nat_ip_count_t* counts; /* owned, nsyms entries */
} ip_pending_t;

enum { WALK_REBIND, WALK_RESTORE };

struct ip_hold_s;

typedef struct {
  int mode;
  const nat_ip_sym_t* syms;
  size_t n;
  size_t* lens; /* strlen of each name */
  const void* self;
  uintptr_t only_dyn; /* rebind_object: only the object with this dynamic
                         section; 0: every object */
  /* Full walks: the objects held loaded (the others are not touched);
   * NULL for one object, which the caller's handle keeps loaded. */
  const struct ip_hold_s* hold;
  uintptr_t main_phdr;
  uintptr_t vdso;
  uintptr_t page;
  /* /proc/self/maps, read at the first store that needs it. */
  ip_map_t* maps;
  size_t nmaps;
  int maps_state; /* 0 not read, 1 read, -1 unreadable */
  /* Results. */
  ip_pending_t* pend;
  size_t npend;
  size_t cappend;
  char* seen; /* WALK_RESTORE and full rebinds: records whose object was
                 found in this walk, for the first nseen records (those
                 that existed when the walk began) */
  size_t nseen;
  int stored;
  uint32_t mprotects; /* pages made writable around a store, so far */
  uint32_t changed;
  int found;
  int err; /* NAT_ENOMEM */
} ip_walk_t;

/* What we know of one object while we look at it. */
typedef struct {
  uintptr_t base;
  const ip_phdr_t* phdr;
  size_t phnum;
  uintptr_t dyn;     /* address of its dynamic section, 0 if none */
  size_t dyn_size;   /* bytes */
  uintptr_t relro;   /* PT_GNU_RELRO range, relro_end == 0 if none */
  uintptr_t relro_end;
} ip_obj_t;

/* Whether [addr, addr + len) lies inside one PT_LOAD segment of o. */
static int obj_has(const ip_obj_t* o, uintptr_t addr, size_t len) {
  for (size_t i = 0; i < o->phnum; i++) {
    const ip_phdr_t* p = &o->phdr[i];
    if (p->p_type != PT_LOAD) continue;
    uintptr_t s = o->base + p->p_vaddr;
    uintptr_t e = s + p->p_memsz;
    if (addr >= s && addr <= e && len <= e - addr) return 1;
  }
  return 0;
}

/*
 * The protection the ELF file asked for the page at `page`, as the dynamic
 * linker leaves it: read-only inside PT_GNU_RELRO, whose ends glibc and
 * musl both round down to a page (the page holding the end stays
 * writable). Only a guess, used when /proc/self/maps cannot be read.
 */
static int obj_prot(const ip_obj_t* o, uintptr_t page, uintptr_t pagesize) {
  uintptr_t ro = o->relro & ~(pagesize - 1);
  uintptr_t ro_end = o->relro_end & ~(pagesize - 1);
  if (page >= ro && page < ro_end) return PROT_READ;
  uintptr_t addr = page;
  for (size_t i = 0; i < o->phnum; i++) {
    const ip_phdr_t* p = &o->phdr[i];
    if (p->p_type != PT_LOAD) continue;
    uintptr_t s = o->base + p->p_vaddr;
    if (addr >= s && addr - s < p->p_memsz)
      return ((p->p_flags & PF_R) ? PROT_READ : 0) |
             ((p->p_flags & PF_W) ? PROT_WRITE : 0) |
             ((p->p_flags & PF_X) ? PROT_EXEC : 0);
  }
  return PROT_READ;
}

/*
 * A d_ptr of the dynamic section as an address. glibc rewrites these to
 * absolute addresses when the dynamic section is writable (x86_64 and
 * aarch64 objects); musl and read-only dynamic sections keep the link-time
 * value, relative to the load bias. An address inside the object is taken
 * as is; otherwise base + value must be inside it. (A shared object's bias
 * is far above its size, so the two readings cannot both land inside it
 * unless the bias is 0, where they are equal.) 0 when neither is inside.
 */
static uintptr_t obj_ptr(const ip_obj_t* o, uintptr_t v, size_t len) {
  if (obj_has(o, v, len)) return v;
  if (obj_has(o, o->base + v, len)) return o->base + v;
  return 0;
}

/* Reads /proc/self/maps into w->maps. Raw read(2) and a small parser: no
 * stdio buffering state is shared with the host. */
static void read_maps(ip_walk_t* w) {
  w->maps_state = -1;
  int fd = open(NAT_IP_MAPS, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  size_t cap = 1 << 16, len = 0;
  char* buf = malloc(cap);
  while (buf != NULL) {
    if (cap - len < 4096) {
      char* nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fd);
  if (buf == NULL) return;
  buf[len] = '\0';
  size_t lines = 0;
  for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
  ip_map_t* maps = calloc(lines + 1, sizeof(*maps));
  if (maps == NULL) {
    free(buf);
    return;
  }
  size_t n = 0;
  char* p = buf;
  while (*p != '\0' && n < lines + 1) {
    char* end;
    uintptr_t s = (uintptr_t)strtoull(p, &end, 16);
    if (*end != '-') break;
    uintptr_t e = (uintptr_t)strtoull(end + 1, &end, 16);
    if (*end != ' ' || end[1] == '\0' || end[2] == '\0' || end[3] == '\0')
      break;
    int prot = (end[1] == 'r' ? PROT_READ : 0) |
               (end[2] == 'w' ? PROT_WRITE : 0) |
               (end[3] == 'x' ? PROT_EXEC : 0);
    maps[n++] = (ip_map_t){s, e, prot};
    char* nl = strchr(end, '\n');
    if (nl == NULL) break;
    p = nl + 1;
  }
  free(buf);
  w->maps = maps;
  w->nmaps = n;
  w->maps_state = 1;
}

/* The current protection of the page at addr from /proc/self/maps, in
 * *prot; 0 when that cannot be read (or does not list the page). */
static int page_prot(ip_walk_t* w, uintptr_t page, int* prot) {
  if (w->maps_state == 0) read_maps(w);
  if (w->maps_state == 1) {
    for (size_t i = 0; i < w->nmaps; i++)
      if (page >= w->maps[i].start && page < w->maps[i].end) {
        *prot = w->maps[i].prot;
        return 1;
      }
  }
  return 0;
}

/*
 * Stores v into *slot with one aligned 8-byte atomic store, making the page
 * writable around it when it is not. Returns 0 or the errno of mprotect
 * (the slot is then unchanged). The page keeps PROT_READ throughout, so a
 * thread calling through another slot of it never faults.
 *
 * When the page's protection cannot be read, it is guessed from the ELF
 * headers and the page is made writable around the store even where the
 * guess says it is already: a wrong guess then leaves a page writable that
 * was read-only (weaker RELRO), never a store into a read-only page.
 */
static int store_slot(ip_walk_t* w, const ip_obj_t* o, void** slot, void* v) {
  uintptr_t page = (uintptr_t)slot & ~(w->page - 1);
  int prot;
  int known = page_prot(w, page, &prot);
  if (!known) prot = obj_prot(o, page, w->page);
  if (known && (prot & PROT_WRITE)) {
    __atomic_store_n(slot, v, __ATOMIC_RELEASE);
    return 0;
  }
  if (mprotect((void*)page, w->page, prot | PROT_READ | PROT_WRITE) != 0)
    return errno;
  w->mprotects++;
  __atomic_store_n(slot, v, __ATOMIC_RELEASE);
  /* If putting the protection back fails, the page stays writable: a
   * weaker RELRO for that object, never a fault. */
  (void)mprotect((void*)page, w->page, prot);
  return 0;
}

static ip_rec_t* find_rec(void** slot) {
  for (size_t i = 0; i < ip_nrecs; i++)
    if (ip_recs[i].slot == slot) return &ip_recs[i];
  return NULL;
}

/* Appends a pending report for o; NULL (and w->err) when out of memory. */
static ip_pending_t* add_pending(ip_walk_t* w, const struct dl_phdr_info* info,
                                 nat_ip_status_t status, size_t nsyms) {
  if (w->npend == w->cappend) {
    size_t cap = w->cappend ? w->cappend * 2 : 32;
    ip_pending_t* np = realloc(w->pend, cap * sizeof(*np));
    if (np == NULL) {
      w->err = NAT_ENOMEM;
      return NULL;
    }
    w->pend = np;
    w->cappend = cap;
  }
  ip_pending_t* p = &w->pend[w->npend];
  memset(p, 0, sizeof(*p));
  const char* name = info->dlpi_name ? info->dlpi_name : "";
  p->path = strdup(name);
  if (nsyms > 0) p->counts = calloc(nsyms, sizeof(*p->counts));
  if (p->path == NULL || (nsyms > 0 && p->counts == NULL)) {
    free(p->path);
    free(p->counts);
    w->err = NAT_ENOMEM;
    return NULL;
  }
  w->npend++;
  p->r.base = (uintptr_t)info->dlpi_addr;
  p->r.status = status;
  p->r.nsyms = nsyms;
  return p;
}

/* The index of the requested symbol called `name` (bounded by strtab's
 * end), or -1. */
static long match_name(const ip_walk_t* w, const char* name, size_t room) {
  for (size_t i = 0; i < w->n; i++) {
    size_t len = w->lens[i];
    if (len < room && name[0] == w->syms[i].name[0] &&
        memcmp(name, w->syms[i].name, len + 1) == 0)
      return (long)i;
  }
  return -1;
}

/* The tables of one dynamic section that we read. */
typedef struct {
  const ip_sym_t* symtab;
  const char* strtab;
  size_t strsz;
  uintptr_t jmprel;
  size_t pltrelsz;
  int pltrel; /* DT_RELA or DT_REL */
  uintptr_t rela;
  size_t relasz;
  size_t relaent;
  uintptr_t rel;
  size_t relsz;
  size_t relent;
} ip_dynamic_t;

/* Reads o's dynamic section; 0 or NAT_IP_BAD_DYNAMIC. */
static int read_dynamic(const ip_obj_t* o, ip_dynamic_t* d) {
  memset(d, 0, sizeof(*d));
  d->relaent = sizeof(ip_rela_t);
  d->relent = sizeof(ip_rel_t);
  uintptr_t symtab = 0, strtab = 0;
  size_t syment = sizeof(ip_sym_t);
  size_t count = o->dyn_size / sizeof(ip_dyn_t);
  const ip_dyn_t* dyn = (const ip_dyn_t*)o->dyn;
  for (size_t i = 0; i < count && dyn[i].d_tag != DT_NULL; i++) {
    uintptr_t v = (uintptr_t)dyn[i].d_un.d_val;
    switch (dyn[i].d_tag) {
      case DT_SYMTAB: symtab = v; break;
      case DT_STRTAB: strtab = v; break;
      case DT_STRSZ: d->strsz = v; break;
      case DT_SYMENT: syment = v; break;
      case DT_JMPREL: d->jmprel = v; break;
      case DT_PLTRELSZ: d->pltrelsz = v; break;
      case DT_PLTREL: d->pltrel = (int)v; break;
      case DT_RELA: d->rela = v; break;
      case DT_RELASZ: d->relasz = v; break;
      case DT_RELAENT: d->relaent = v; break;
      case DT_REL: d->rel = v; break;
      case DT_RELSZ: d->relsz = v; break;
      case DT_RELENT: d->relent = v; break;
      default: break;
    }
  }
  int any = d->pltrelsz > 0 || d->relasz > 0 || d->relsz > 0;
  if (!any) return 0; /* nothing is relocated: nothing imported by slot */
  if (symtab == 0 || strtab == 0 || d->strsz == 0 ||
      syment != sizeof(ip_sym_t) || d->relaent != sizeof(ip_rela_t) ||
      d->relent != sizeof(ip_rel_t))
    return NAT_IP_BAD_DYNAMIC;
  d->symtab = (const ip_sym_t*)obj_ptr(o, symtab, sizeof(ip_sym_t));
  d->strtab = (const char*)obj_ptr(o, strtab, d->strsz);
  if (d->symtab == NULL || d->strtab == NULL) return NAT_IP_BAD_DYNAMIC;
  if (d->pltrelsz > 0) {
    if (d->pltrel != DT_RELA && d->pltrel != DT_REL) return NAT_IP_BAD_DYNAMIC;
    d->jmprel = obj_ptr(o, d->jmprel, d->pltrelsz);
    if (d->jmprel == 0) return NAT_IP_BAD_DYNAMIC;
  }
  if (d->relasz > 0 && (d->rela = obj_ptr(o, d->rela, d->relasz)) == 0)
    return NAT_IP_BAD_DYNAMIC;
  if (d->relsz > 0 && (d->rel = obj_ptr(o, d->rel, d->relsz)) == 0)
    return NAT_IP_BAD_DYNAMIC;
  return 0;
}

/*
 * One relocation: if it names a requested import, rebinds its slot (or
 * counts why not). `addend` is 0 for REL entries, whose addend is the
 * slot's initial contents and irrelevant to the slot types we rebind; a
 * RELA entry of those types with a non-zero addend (never emitted for a
 * call) would want symbol + addend, not the replacement: skipped.
 */
static void rebind_reloc(ip_walk_t* w, const ip_obj_t* o, const ip_dynamic_t* d,
                         ip_pending_t* p, uint64_t offset, uint64_t info,
                         int64_t addend) {
  uint32_t si = (uint32_t)IP_R_SYM(info);
  if (si == 0) return; /* RELATIVE and friends: no symbol */
  const ip_sym_t* s = &d->symtab[si];
  if (!obj_has(o, (uintptr_t)s, sizeof(*s))) return;
  if (s->st_name >= d->strsz) return;
  long k = match_name(w, d->strtab + s->st_name, d->strsz - s->st_name);
  if (k < 0) return;
  /* A symbol the object defines itself is not an import (libnode.so calls
   * its own napi functions through its own GOT): never rebound. */
  if (s->st_shndx != SHN_UNDEF) return;
  nat_ip_count_t* c = &p->counts[k];
  uint32_t type = (uint32_t)IP_R_TYPE(info);
  void** slot = (void**)(o->base + (uintptr_t)offset);
  if ((type != IP_R_JUMP_SLOT && type != IP_R_GLOB_DAT) || addend != 0 ||
      ((uintptr_t)slot & (sizeof(void*) - 1)) != 0 ||
      !obj_has(o, (uintptr_t)slot, sizeof(void*))) {
    c->skipped++;
    return;
  }
  void* repl = w->syms[k].replacement;
  void* cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
  ip_rec_t* rec = find_rec(slot);
  if (cur == repl) {
    c->already++;
    c->glob_dat += type == IP_R_GLOB_DAT;
    if (c->original == NULL && rec != NULL) c->original = rec->original;
    return;
  }
  /* The value to restore: kept from an earlier store when the slot still
   * holds what we stored then (rebinding to a new replacement); otherwise
   * the slot's value now (a slot of an object loaded again at the same
   * address, or one the dynamic linker resolved after our store). */
  int fresh = rec == NULL;
  if (fresh) {
    if (ip_nrecs == ip_caprecs) {
      size_t cap = ip_caprecs ? ip_caprecs * 2 : 64;
      ip_rec_t* nr = realloc(ip_recs, cap * sizeof(*nr));
      if (nr == NULL) {
        w->err = NAT_ENOMEM;
        c->failed++;
        return;
      }
      ip_recs = nr;
      ip_caprecs = cap;
    }
    rec = &ip_recs[ip_nrecs];
  }
  void* original = (!fresh && cur == rec->replacement) ? rec->original : cur;
  int e = store_slot(w, o, slot, repl);
  if (e != 0) {
    c->failed++;
    p->r.sys_errno = e;
    return;
  }
  if (fresh) ip_nrecs++;
  *rec = (ip_rec_t){slot, original, repl, o->dyn};
  if (c->original == NULL) c->original = original;
  c->rebound++;
  c->glob_dat += type == IP_R_GLOB_DAT;
  w->stored++;
}

/* Rebinds every matching import of o. */
static void rebind_obj(ip_walk_t* w, const ip_obj_t* o,
                       const struct dl_phdr_info* info) {
  if (o->dyn == 0) {
    add_pending(w, info, NAT_IP_NO_DYNAMIC, 0);
    return;
  }
  ip_dynamic_t d;
  int bad = read_dynamic(o, &d);
  if (bad != 0) {
    add_pending(w, info, (nat_ip_status_t)bad, 0);
    return;
  }
  ip_pending_t* p = add_pending(w, info, NAT_IP_NO_IMPORTS, w->n);
  if (p == NULL) return;
  uint32_t mprotects = w->mprotects;
  if (d.pltrelsz > 0) {
    if (d.pltrel == DT_RELA) {
      const ip_rela_t* r = (const ip_rela_t*)d.jmprel;
      for (size_t i = 0; i < d.pltrelsz / sizeof(*r); i++)
        rebind_reloc(w, o, &d, p, r[i].r_offset, r[i].r_info, r[i].r_addend);
    } else {
      const ip_rel_t* r = (const ip_rel_t*)d.jmprel;
      for (size_t i = 0; i < d.pltrelsz / sizeof(*r); i++)
        rebind_reloc(w, o, &d, p, r[i].r_offset, r[i].r_info, 0);
    }
  }
  /* On x86_64 and aarch64 DT_RELA and DT_JMPREL are disjoint (the psABI
   * puts the PLT's relocations apart); were they to overlap, the second
   * visit of a slot would count it as `already`. */
  {
    const ip_rela_t* r = (const ip_rela_t*)d.rela;
    for (size_t i = 0; i < d.relasz / sizeof(*r); i++)
      rebind_reloc(w, o, &d, p, r[i].r_offset, r[i].r_info, r[i].r_addend);
  }
  {
    const ip_rel_t* r = (const ip_rel_t*)d.rel;
    for (size_t i = 0; i < d.relsz / sizeof(*r); i++)
      rebind_reloc(w, o, &d, p, r[i].r_offset, r[i].r_info, 0);
  }
  for (size_t k = 0; k < w->n; k++) {
    p->r.rebound += p->counts[k].rebound;
    p->r.already += p->counts[k].already;
    p->r.skipped += p->counts[k].skipped;
    p->r.failed += p->counts[k].failed;
  }
  p->r.mprotects = w->mprotects - mprotects;
  if (p->r.failed > 0)
    p->r.status = NAT_IP_MPROTECT;
  else if (p->r.skipped > 0)
    p->r.status = NAT_IP_PARTIAL;
  else if (p->r.rebound + p->r.already > 0)
    p->r.status = NAT_IP_OK;
}

/* Puts back the recorded slots of o that still hold our replacement. */
static void restore_obj(ip_walk_t* w, const ip_obj_t* o) {
  for (size_t i = 0; i < w->nseen; i++) {
    ip_rec_t* r = &ip_recs[i];
    if (w->seen[i] || r->dyn != o->dyn ||
        !obj_has(o, (uintptr_t)r->slot, sizeof(void*)))
      continue;
    w->seen[i] = 1;
    void* cur = __atomic_load_n(r->slot, __ATOMIC_RELAXED);
    if (cur != r->replacement) {
      w->changed++;
      continue;
    }
    if (store_slot(w, o, r->slot, r->original) == 0)
      w->stored++;
    else
      w->changed++;
  }
}

static void obj_from_info(const struct dl_phdr_info* info, ip_obj_t* o) {
  *o = (ip_obj_t){(uintptr_t)info->dlpi_addr, info->dlpi_phdr,
                  info->dlpi_phnum, 0, 0, 0, 0};
  for (size_t i = 0; i < o->phnum; i++) {
    const ip_phdr_t* ph = &o->phdr[i];
    if (ph->p_type == PT_DYNAMIC) {
      o->dyn = o->base + ph->p_vaddr;
      o->dyn_size = ph->p_memsz;
    } else if (ph->p_type == PT_GNU_RELRO) {
      o->relro = o->base + ph->p_vaddr;
      o->relro_end = o->relro + ph->p_memsz;
    }
  }
}

/*
 * Objects held loaded for one full rebind or restore: the dynamic section
 * of each and our reference to it (see "Objects being loaded" in
 * nat_interpose.h). dl_iterate_phdr lists an object from the moment it is
 * mapped, before the dynamic linker has relocated it and made its RELRO
 * read-only; a store into it then could be overwritten by its relocation,
 * or fault if the page turned read-only between our look at its protection
 * and the store. dlopen(RTLD_NOLOAD) of each listed object waits for every
 * dlopen and dlclose in progress (they hold the loader's lock throughout)
 * and gives a reference that keeps the object loaded until we drop it, so
 * every held object is fully loaded and stays so during the walk; one that
 * appears only during the walk is not held, and not touched.
 */
typedef struct ip_hold_s {
  uintptr_t* dyn;
  void** h;     /* NULL where the object could not be held */
  char** names; /* while collecting */
  size_t n;
  size_t cap;
  uintptr_t main_phdr;
  uintptr_t vdso;
  int err;
} ip_hold_t;

static int hold_collect_cb(struct dl_phdr_info* info, size_t size,
                           void* data) {
  ip_hold_t* hd = data;
  (void)size;
  ip_obj_t o;
  obj_from_info(info, &o);
  if ((uintptr_t)info->dlpi_phdr == hd->main_phdr || o.dyn == 0 ||
      (hd->vdso != 0 && obj_has(&o, hd->vdso, 1)) || info->dlpi_name == NULL ||
      info->dlpi_name[0] == '\0')
    return 0;
  if (hd->n == hd->cap) {
    size_t cap = hd->cap ? hd->cap * 2 : 32;
    uintptr_t* dyn = realloc(hd->dyn, cap * sizeof(*dyn));
    if (dyn != NULL) hd->dyn = dyn;
    char** names = realloc(hd->names, cap * sizeof(*names));
    if (names != NULL) hd->names = names;
    if (dyn == NULL || names == NULL) {
      hd->err = NAT_ENOMEM;
      return 1;
    }
    hd->cap = cap;
  }
  hd->names[hd->n] = strdup(info->dlpi_name);
  if (hd->names[hd->n] == NULL) {
    hd->err = NAT_ENOMEM;
    return 1;
  }
  hd->dyn[hd->n++] = o.dyn;
  return 0;
}

static void hold_release(ip_hold_t* hd) {
  for (size_t i = 0; i < hd->n; i++)
    if (hd->h != NULL && hd->h[i] != NULL) dlclose(hd->h[i]);
  if (hd->names != NULL)
    for (size_t i = 0; i < hd->n; i++) free(hd->names[i]);
  free(hd->names);
  free(hd->dyn);
  free(hd->h);
  memset(hd, 0, sizeof(*hd));
}

/* Holds every loaded object but the main executable and the vDSO. Called
 * without ip_mutex: dlopen may wait for a dlopen in progress whose
 * constructor calls into this module. */
static int hold_loaded(ip_hold_t* hd) {
  memset(hd, 0, sizeof(*hd));
  hd->main_phdr = (uintptr_t)getauxval(AT_PHDR);
  hd->vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  dl_iterate_phdr(hold_collect_cb, hd);
  if (hd->err == 0 && hd->n > 0 &&
      (hd->h = calloc(hd->n, sizeof(*hd->h))) == NULL)
    hd->err = NAT_ENOMEM;
  if (hd->err != 0) {
    int err = hd->err;
    hold_release(hd);
    return err;
  }
  for (size_t i = 0; i < hd->n; i++) {
    void* h = dlopen(hd->names[i], RTLD_LAZY | RTLD_NOLOAD);
    struct link_map* lm = NULL;
    /* The same name may now be another object (unloaded and loaded again
     * elsewhere): only the one with the dynamic section we saw counts. */
    if (h != NULL && dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL &&
        (uintptr_t)lm->l_ld == hd->dyn[i]) {
      hd->h[i] = h;
    } else if (h != NULL) {
      dlclose(h);
    }
    free(hd->names[i]);
    hd->names[i] = NULL;
  }
  return 0;
}

static int is_held(const ip_hold_t* hd, uintptr_t dyn) {
  for (size_t i = 0; i < hd->n; i++)
    if (hd->dyn[i] == dyn && hd->h[i] != NULL) return 1;
  return 0;
}

static int walk_cb(struct dl_phdr_info* info, size_t size, void* data) {
  ip_walk_t* w = data;
  (void)size;
  if (w->err != 0) return 1;
  ip_obj_t o;
  obj_from_info(info, &o);
  if (w->only_dyn != 0 && o.dyn != w->only_dyn) return 0;
  if (w->mode == WALK_RESTORE) {
    /* Records of an object not held are dropped with the others: it was
     * unloaded, or is a new one being loaded at the same address. */
    if (o.dyn != 0 && (w->hold == NULL || is_held(w->hold, o.dyn)))
      restore_obj(w, &o);
    return 0;
  }
  w->found = 1;
  /* Mark which records belong to objects still loaded (full walks only). */
  if (w->seen != NULL && o.dyn != 0 &&
      (w->hold == NULL || is_held(w->hold, o.dyn)))
    for (size_t i = 0; i < w->nseen; i++)
      if (ip_recs[i].dyn == o.dyn) w->seen[i] = 1;
  if ((uintptr_t)info->dlpi_phdr == w->main_phdr) {
    add_pending(w, info, NAT_IP_MAIN, 0);
  } else if (w->vdso != 0 && obj_has(&o, w->vdso, 1)) {
    add_pending(w, info, NAT_IP_VDSO, 0);
  } else if (w->self != NULL && obj_has(&o, (uintptr_t)w->self, 1)) {
    add_pending(w, info, NAT_IP_SELF, 0);
  } else if (o.dyn != 0 && w->hold != NULL && !is_held(w->hold, o.dyn)) {
    add_pending(w, info, NAT_IP_BUSY, 0);
  } else {
    rebind_obj(w, &o, info);
  }
  return w->err != 0;
}

static void walk_init(ip_walk_t* w, int mode) {
  memset(w, 0, sizeof(*w));
  w->mode = mode;
  w->main_phdr = (uintptr_t)getauxval(AT_PHDR);
  w->vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  long ps = sysconf(_SC_PAGESIZE);
  w->page = ps > 0 ? (uintptr_t)ps : 4096;
}

/* Drops the records not marked in w->seen, keeping the order. */
static void drop_unseen(ip_walk_t* w) {
  size_t j = 0;
  for (size_t i = 0; i < ip_nrecs; i++)
    if (w->seen[i]) ip_recs[j++] = ip_recs[i];
  ip_nrecs = j;
}

/* Hands the reports to cb (outside every lock) and frees the walk. */
static void walk_finish(ip_walk_t* w, nat_ip_report_cb cb, void* ud) {
  for (size_t i = 0; i < w->npend; i++) {
    ip_pending_t* p = &w->pend[i];
    p->r.path = p->path;
    p->r.counts = p->counts;
    if (cb != NULL && w->err == 0) cb(&p->r, ud);
    free(p->path);
    free(p->counts);
  }
  free(w->pend);
  free(w->maps);
  free(w->seen);
  free(w->lens);
}

/* A full rebind (only_dyn == 0) holds every object first; a rebind of one
 * object relies on the caller's reference to it. */
static int rebind(uintptr_t only_dyn, const nat_ip_sym_t* syms, size_t n,
                  const void* self, nat_ip_report_cb cb, void* ud) {
  ip_walk_t w;
  ip_hold_t hold;
  walk_init(&w, WALK_REBIND);
  w.syms = syms;
  w.n = n;
  w.self = self;
  w.only_dyn = only_dyn;
  if (n > 0 && (w.lens = malloc(n * sizeof(*w.lens))) == NULL)
    return NAT_ENOMEM;
  for (size_t i = 0; i < n; i++) w.lens[i] = strlen(syms[i].name);
  if (only_dyn == 0) {
    int e = hold_loaded(&hold);
    if (e != 0) {
      walk_finish(&w, NULL, NULL);
      return e;
    }
    w.hold = &hold;
  }

  pthread_mutex_lock(&ip_mutex);
  if (only_dyn == 0 && ip_nrecs > 0) {
    if ((w.seen = calloc(ip_nrecs, 1)) == NULL) {
      pthread_mutex_unlock(&ip_mutex);
      hold_release(&hold);
      walk_finish(&w, NULL, NULL);
      return NAT_ENOMEM;
    }
    w.nseen = ip_nrecs;
  }
  size_t before = ip_nrecs;
  dl_iterate_phdr(walk_cb, &w);
  /* A full walk saw every loaded object: records of objects unloaded since
   * they were made are dropped (records appended in this walk are kept). */
  if (w.seen != NULL && w.err == 0) {
    char* seen = realloc(w.seen, ip_nrecs > 0 ? ip_nrecs : 1);
    if (seen != NULL) {
      w.seen = seen;
      memset(seen + before, 1, ip_nrecs - before);
      drop_unseen(&w);
    }
  }
  pthread_mutex_unlock(&ip_mutex);
  if (only_dyn == 0) hold_release(&hold);

  int found = w.found;
  int ret = w.err != 0 ? w.err : w.stored;
  if (only_dyn != 0 && !found && w.err == 0) {
    ret = NAT_EINVAL;
    nat_ip_report_t r;
    memset(&r, 0, sizeof(r));
    r.path = "";
    r.status = NAT_IP_NOT_FOUND;
    if (cb != NULL) cb(&r, ud);
  }
  walk_finish(&w, cb, ud);
  return ret;
}

int nat__ip_rebind_loaded(const nat_ip_sym_t* syms, size_t n, const void* self,
                          nat_ip_report_cb cb, void* ud) {
  int e = check_syms(syms, n);
  if (e != 0) return e;
  return rebind(0, syms, n, self, cb, ud);
}

int nat__ip_rebind_object(const char* path, void* dl_handle,
                          const nat_ip_sym_t* syms, size_t n, const void* self,
                          nat_ip_report_cb cb, void* ud) {
  int e = check_syms(syms, n);
  if (e != 0) return e;
  if (path == NULL && dl_handle == NULL) return NAT_EINVAL;
  void* h = dl_handle;
  if (h == NULL) h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
  struct link_map* lm = NULL;
  int ok = h != NULL && dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL &&
           lm->l_ld != NULL;
  uintptr_t dyn = ok ? (uintptr_t)lm->l_ld : 0;
  if (!ok) {
    if (dl_handle == NULL && h != NULL) dlclose(h);
    nat_ip_report_t r;
    memset(&r, 0, sizeof(r));
    r.path = path != NULL ? path : "";
    r.status = NAT_IP_NOT_FOUND;
    if (cb != NULL) cb(&r, ud);
    return NAT_EINVAL;
  }
  /* A handle (the caller's, or our RTLD_NOLOAD one, dropped only after the
   * walk) means the object's dlopen has returned: it is fully relocated,
   * and stays loaded during the walk. */
  int ret = rebind(dyn, syms, n, self, cb, ud);
  if (dl_handle == NULL) dlclose(h);
  return ret;
}

int nat__ip_restore_all(uint32_t* changed) {
  ip_walk_t w;
  ip_hold_t hold;
  walk_init(&w, WALK_RESTORE);
  int e = hold_loaded(&hold);
  if (e != 0) return e;
  w.hold = &hold;
  pthread_mutex_lock(&ip_mutex);
  if (ip_nrecs > 0 && (w.seen = calloc(ip_nrecs, 1)) == NULL) {
    pthread_mutex_unlock(&ip_mutex);
    hold_release(&hold);
    return NAT_ENOMEM;
  }
  w.nseen = ip_nrecs;
  if (ip_nrecs > 0) dl_iterate_phdr(walk_cb, &w);
  /* Every record is forgotten: restored, changed by someone else, or of an
   * object no longer loaded. */
  ip_nrecs = 0;
  pthread_mutex_unlock(&ip_mutex);
  hold_release(&hold);
  if (changed != NULL) *changed = w.changed;
  int ret = w.stored;
  walk_finish(&w, NULL, NULL);
  return ret;
}

size_t nat__ip_recorded(void) {
  pthread_mutex_lock(&ip_mutex);
  size_t n = ip_nrecs;
  pthread_mutex_unlock(&ip_mutex);
  return n;
}

#else /* not Linux x86_64/aarch64 */

int nat__ip_supported(void) { return 0; }

static int unsupported(nat_ip_report_cb cb, void* ud) {
  nat_ip_report_t r;
  memset(&r, 0, sizeof(r));
  r.status = NAT_IP_UNSUPPORTED;
  if (cb != NULL) cb(&r, ud);
  return 0;
}

int nat__ip_rebind_loaded(const nat_ip_sym_t* syms, size_t n, const void* self,
                          nat_ip_report_cb cb, void* ud) {
  int e = check_syms(syms, n);
  if (e != 0) return e;
  (void)self;
  return unsupported(cb, ud);
}

int nat__ip_rebind_object(const char* path, void* dl_handle,
                          const nat_ip_sym_t* syms, size_t n, const void* self,
                          nat_ip_report_cb cb, void* ud) {
  int e = check_syms(syms, n);
  if (e != 0) return e;
  if (path == NULL && dl_handle == NULL) return NAT_EINVAL;
  (void)self;
  return unsupported(cb, ud);
}

int nat__ip_restore_all(uint32_t* changed) {
  if (changed != NULL) *changed = 0;
  return 0;
}

size_t nat__ip_recorded(void) { return 0; }

#endif
