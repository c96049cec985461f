/*
 * symbol.h - the name of a function, for traces and reports.
 *
 * dladdr() knows only exported symbols, and a program's own functions -
 * what processes run - are seldom exported (static, or no -rdynamic).  So
 * the ELF symbol table of the object holding the address is read too.
 */
#ifndef LWP_SYMBOL_H
#define LWP_SYMBOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy into buf (len bytes, truncated) the name of the function holding
 * code address addr; false if none is known.  Takes the dynamic loader's
 * lock and maps the object's file: not from a signal handler. */
bool symbol_name(uintptr_t addr, char *buf, size_t len);

/* Likewise, for any address inside the function (a return address), and
 * *off: addr's offset from the function's start. */
bool symbol_find(uintptr_t addr, char *buf, size_t len, uintptr_t *off);

#endif /* LWP_SYMBOL_H */
