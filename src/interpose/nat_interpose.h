/*
 * The interposer: rebinds the imports of loaded shared objects (Node-API
 * addons) to replacement functions (the engine's wrappers), by storing into
 * their GOT slots. Pure C, no Node-API: the wrappers (src/napi/wrap_*.c) and
 * the Check tests (test/core/check_interpose.c) call it with the names they
 * want rebound.
 *
 * How it works (Linux, ELF, x86_64 and aarch64; written from the System V
 * gABI and the x86_64 / AArch64 psABI supplements)
 *
 *   A shared object calls a function of another object through a slot of
 *   its global offset table. The dynamic linker fills the slot from a
 *   relocation of the object's dynamic section that names the symbol:
 *   R_X86_64_JUMP_SLOT / R_AARCH64_JUMP_SLOT (in DT_JMPREL, the PLT's slots,
 *   filled at the first call when bound lazily, at load with BIND_NOW) or
 *   R_X86_64_GLOB_DAT / R_AARCH64_GLOB_DAT (in DT_RELA, the slot that holds
 *   the function's address for -fno-plt calls and for code that takes the
 *   address). For each loaded object we read PT_DYNAMIC, find DT_SYMTAB,
 *   DT_STRTAB, DT_JMPREL/DT_PLTRELSZ/DT_PLTREL and DT_RELA/DT_RELASZ (and
 *   DT_REL/DT_RELSZ where an object has them; neither target's toolchain
 *   emits them, so that path is untested), and for every relocation of
 *   those two types whose symbol is *undefined* in the object (an import)
 *   and has one of the requested names, store the replacement into the slot.
 *   The next call through that slot reaches the replacement.
 *
 *   Slots in PT_GNU_RELRO (all GOT slots of a -z now -z relro object) are
 *   read-only after loading: the page is made writable with mprotect around
 *   the store, and its protection as read from /proc/self/maps (the one the
 *   dynamic linker left) is put back right after. The page never loses
 *   PROT_READ, so other threads can call through it meanwhile.
 *
 *   A lazily bound slot still points at the PLT's resolver stub: the store
 *   simply replaces it, and the dynamic linker never resolves that slot
 *   again. Restoring puts the stub back, so the next call resolves as if
 *   nothing had happened.
 *
 * What is never touched
 *
 *   - the main executable (node itself; found as the object whose program
 *     headers are at getauxval(AT_PHDR)),
 *   - the vDSO (the object at getauxval(AT_SYSINFO_EHDR)),
 *   - the object that contains the address `self` passed by the caller (our
 *     own addon: its calls to the real napi functions must stay direct),
 *   - any object that *defines* a requested symbol (for example a shared
 *     libnode.so, which calls its own exports through its own GOT),
 *   - relocations of other types that name a requested symbol (R_X86_64_64,
 *     R_AARCH64_ABS64: a function pointer stored in data), counted in the
 *     report as `skipped`.
 *
 * What prebuilt addons from npm use (readelf -r on the .node files of
 * bcrypt 6, classic-level 3, @node-rs/bcrypt-linux-x64-gnu 1 and
 * @parcel/watcher-linux-x64-glibc 2, packed with `npm pack`):
 *   - bcrypt (linux-x64 glibc and musl, linux-arm64): 42 napi imports, all
 *     R_X86_64_JUMP_SLOT / R_AARCH64_JUMP_SLOT; glibc builds lazy with
 *     partial RELRO (.got.plt writable), the musl x64 build BIND_NOW (its
 *     slots are in RELRO). Async work: create/queue/delete.
 *   - classic-level (linux-x64 glibc and musl, linux-arm64): 38 napi
 *     imports, all JUMP_SLOT; glibc lazy, musl BIND_NOW.
 *   - @node-rs/bcrypt (napi-rs, linux-x64-gnu): 44 napi imports, all
 *     R_X86_64_GLOB_DAT (Rust calls through the GOT, no PLT), BIND_NOW:
 *     every slot is in PT_GNU_RELRO, so every store needs the mprotect.
 *     Async work: create/queue/cancel/delete.
 *   - @parcel/watcher (linux-x64-glibc): 49 napi imports, all JUMP_SLOT,
 *     lazy; uses threadsafe functions (create/call/release) and async work.
 *   No napi symbol appears in any other relocation type (function pointers
 *   in data, R_X86_64_64, name only the addons' own functions).
 *
 * Platforms: Linux with glibc or musl on x86_64 and aarch64. Elsewhere
 * (macOS, Windows, other architectures) every call reports
 * NAT_IP_UNSUPPORTED once per call and rebinds nothing; nat__ip_supported()
 * says so up front.
 *
 * Threads
 *
 *   - nat__ip_rebind_loaded, nat__ip_rebind_object and nat__ip_restore_all
 *     may be called from any thread; the engine calls them on the JS thread
 *     of an env. A process-wide mutex serializes them, and all reading
 *     of objects and all stores happen inside dl_iterate_phdr's callback,
 *     which glibc runs holding its loader lock (dl_load_write_lock, which
 *     dlclose holds while it unmaps and unlinks an object): no object can
 *     be unloaded while we read or write it, and two copies of this module
 *     (two copies of the package) never interleave their mprotect/store
 *     pairs on the same page. musl never unmaps objects. Report callbacks
 *     run after both locks are released, on the calling thread, and may
 *     call anything, this module included.
 *   - None of them is async-signal-safe (they allocate and take a mutex):
 *     never call them from a signal handler, nor from inside a
 *     dl_iterate_phdr callback.
 *   - Any thread may be calling through a slot while it is stored: the slot
 *     is 8 bytes, 8-byte aligned (checked; unaligned slots are skipped), and
 *     it is written with one atomic store. x86_64 and AArch64 both make an
 *     aligned 64-bit store single-copy atomic, and the PLT stub / -fno-plt
 *     call reads it with one 64-bit load, so a caller jumps either to the
 *     old target or to the new one, never to a torn address. Only data is
 *     written, never instructions, so no instruction-cache maintenance is
 *     needed on AArch64: the replacement's code was mapped and made visible
 *     by the loader when its object was loaded. The store is a release
 *     store, but callers read the slot with a plain load and branch, which
 *     orders nothing on AArch64: a replacement must therefore read any state
 *     of its own with acquire loads (or state set before the threads that
 *     call it existed), not rely on having been published by this store.
 *   - Objects being loaded: dl_iterate_phdr lists an object as soon as it
 *     is mapped, before the dynamic linker has relocated it and made its
 *     RELRO read-only (glibc relocates with only its dlopen lock held). A
 *     store then could be overwritten by the relocation, or fault if the
 *     page turned read-only between our reading its protection and the
 *     store. So a full rebind or restore first takes a reference to every
 *     listed object with dlopen(name, RTLD_NOLOAD), before taking the
 *     mutex: that waits for any dlopen or dlclose in progress, and keeps
 *     the objects loaded until the walk is over. An object that shows up
 *     only during the walk is reported NAT_IP_BUSY and left alone (the
 *     loader hook's nat__ip_rebind_object after its dlopen, or the next
 *     full rebind, takes it). nat__ip_rebind_object relies on the handle:
 *     its dlopen has returned. Called from an object's constructor (inside
 *     dlopen), the lock is already this thread's and nothing waits.
 *   - One race cannot be closed from outside the dynamic linker: a lazily
 *     bound slot whose very first call is being resolved on another thread
 *     while we store into it may be overwritten by the resolver with the
 *     real function. Such a slot is found again (and counted as rebound) by
 *     the next rebind call, which is idempotent.
 *
 * Idempotence and restore: a slot that already holds the replacement is left
 * alone (counted as `already`). The first time a slot is written, its
 * previous value is recorded; nat__ip_restore_all() puts every recorded slot
 * that still holds our replacement back to that value (a slot changed by
 * someone else since is left alone and counted) and forgets the records.
 * Records of objects unloaded since are never written: restore only writes
 * into objects it finds loaded, and every full rebind drops the records of
 * objects it did not find.
 *
 * Seen from the rebound object: every call through a rebound slot reaches
 * the replacement, and code that takes the address of a rebound function
 * (GLOB_DAT) gets the replacement's address. Calls it makes through a
 * pointer it copied from its GOT before the rebind, or found with dlsym,
 * still reach the real function.
 */
#ifndef NAT_INTERPOSE_H
#define NAT_INTERPOSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One import to rebind: every GOT slot of a loaded object that is bound to
 * the symbol `name` (an import of that object) gets `replacement`. */
typedef struct {
  const char* name;
  void* replacement;
} nat_ip_sym_t;

/*
 * Why an object was or was not rebound. Values are stable; new ones are
 * appended. nat__ip_status_str() gives the message.
 */
#define NAT_IP_STATUS_MAP(XX)                                                \
  XX(OK, 0, "rebound: every matching import holds its replacement")          \
  XX(NO_IMPORTS, 1, "imports none of the requested symbols")                 \
  XX(MAIN, 2, "the main executable (node itself) is never rebound")          \
  XX(VDSO, 3, "the vDSO is never rebound")                                   \
  XX(SELF, 4, "the caller's own object is never rebound")                    \
  XX(NO_DYNAMIC, 5, "no dynamic section (a static object)")                  \
  XX(BAD_DYNAMIC, 6, "the dynamic section is incomplete or out of range")    \
  XX(PARTIAL, 7, "some matching relocations have a type that is not rebound") \
  XX(MPROTECT, 8, "mprotect refused to make a GOT page writable")            \
  XX(UNSUPPORTED, 9, "rebinding is not supported on this OS/architecture")   \
  XX(NOT_FOUND, 10, "no such loaded object")                                \
  XX(BUSY, 11, "being loaded by another thread: not touched this time")

typedef enum {
#define NAT__IP_STATUS_ENUM(name, value, msg) NAT_IP_##name = (value),
  NAT_IP_STATUS_MAP(NAT__IP_STATUS_ENUM)
#undef NAT__IP_STATUS_ENUM
} nat_ip_status_t;

/* Per requested symbol, what one object had. */
typedef struct {
  uint32_t rebound; /* slots this call stored the replacement into */
  uint32_t already; /* slots that already held the replacement */
  uint32_t skipped; /* relocations of this symbol of a type not rebound */
  uint32_t failed;  /* slots left unchanged: mprotect refused */
  uint32_t glob_dat; /* of rebound + already: GLOB_DAT slots (the rest are
                        JUMP_SLOT) */
  /* The value the first of its slots held before it was first rebound (the
   * real function or, when bound lazily, the PLT stub); NULL when the object
   * has no slot for this symbol. For tests and diagnostics only: the
   * replacements call the real functions directly. */
  void* original;
} nat_ip_count_t;

/* One report per object looked at. Every pointer is valid only during the
 * callback. */
typedef struct {
  const char* path;  /* as the dynamic linker names it; "" for the main
                        executable; NULL for NAT_IP_UNSUPPORTED */
  uintptr_t base;    /* load bias (dlpi_addr) */
  nat_ip_status_t status;
  int sys_errno;     /* errno of the refused mprotect (NAT_IP_MPROTECT) */
  size_t nsyms;      /* entries in counts, as requested; 0 when skipped */
  const nat_ip_count_t* counts; /* in the order of the request */
  uint32_t rebound;  /* sums over counts */
  uint32_t already;
  uint32_t skipped;
  uint32_t failed;
  uint32_t mprotects; /* stores that made a read-only (RELRO) page writable
                         around them */
} nat_ip_report_t;

typedef void (*nat_ip_report_cb)(const nat_ip_report_t* report, void* ud);

/* 1 when this build can rebind (Linux, ELF, x86_64 or aarch64), else 0. */
int nat__ip_supported(void);

/* The message of a status; "unknown status" for other values. */
const char* nat__ip_status_str(int status);

/*
 * Rebinds `syms` (n entries, names non-NULL and distinct, replacements
 * non-NULL) in every loaded object except the main executable, the vDSO
 * and the object containing `self` (may be NULL: then only those two are
 * skipped). `cb` (may be NULL) gets one report per object, in load order,
 * after the work is done. Returns the number of slots newly stored (>= 0),
 * NAT_EINVAL for bad arguments (nothing done, cb not called), or
 * NAT_ENOMEM (the walk stopped: slots stored before it stay recorded and
 * are restored by nat__ip_restore_all; cb is not called). Any thread (see
 * above).
 */
int nat__ip_rebind_loaded(const nat_ip_sym_t* syms, size_t n, const void* self,
                          nat_ip_report_cb cb, void* ud);

/*
 * The same for one object: the one behind `dl_handle` (a handle that
 * dlopen returned and that is still open: dlinfo(RTLD_DI_LINKMAP) cannot
 * check it) or, when dl_handle is NULL, the
 * one loaded from `path` (found with dlopen(path, RTLD_NOLOAD)). One report
 * (NAT_IP_NOT_FOUND when there is no such loaded object: then
 * NAT_EINVAL is returned). Only that object: libraries its dlopen pulled
 * in as dependencies are left to a full rebind. Any thread (see above).
 */
int nat__ip_rebind_object(const char* path, void* dl_handle,
                          const nat_ip_sym_t* syms, size_t n, const void* self,
                          nat_ip_report_cb cb, void* ud);

/*
 * Puts every slot rebound so far back to the value it held before, where it
 * still holds our replacement and its object is still loaded, and forgets
 * them all. Returns the number of slots restored, or NAT_ENOMEM (then
 * nothing was restored or forgotten); *changed (may be NULL) gets the
 * number left alone because something else changed them since (or, very
 * rarely, because mprotect now refused). Any thread (see above).
 */
int nat__ip_restore_all(uint32_t* changed);

/* Number of slots currently recorded as rebound (for tests). */
size_t nat__ip_recorded(void);

#ifdef __cplusplus
}
#endif

#endif /* NAT_INTERPOSE_H */
