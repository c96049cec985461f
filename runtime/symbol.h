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

/* What dladdr() alone knows of a code address: the exported symbol
 * holding it (name NULL if none holds it: for a static function dladdr's
 * nearest one below is another function) and the object it is in. */
struct symbol_dl {
	const char *name;
	uintptr_t off;	    /* from the symbol's start */
	const char *object; /* the object's path */
	uintptr_t obj_off;  /* from the object's load address */
};

/* Fill *out for addr; false if addr is in no loaded object.  Takes only
 * the dynamic loader's lock, as a crash report may. */
bool symbol_dladdr(uintptr_t addr, struct symbol_dl *out);

#endif /* LWP_SYMBOL_H */
