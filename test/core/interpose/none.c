/*
 * An object that imports none of the provider's functions (only libc's
 * strlen): the interposer reports it as NAT_IP_NO_IMPORTS and writes
 * nothing into it.
 */
#include <string.h>

size_t nat_ipn_len(const char* s) { return strlen(s); }
