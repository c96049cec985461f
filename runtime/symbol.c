/*
 * symbol.c - see symbol.h.
 */
#include "symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The loaded object holding an address: its file and load bias. */
struct object {
	uintptr_t addr;
	const char *file; /* "" for the program itself */
	uintptr_t bias;
	bool found;
};

static int holds(struct dl_phdr_info *o, size_t size, void *arg)
{
	struct object *w = arg;

	(void)size;
	for (int i = 0; i < o->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
		uintptr_t lo = o->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && w->addr >= lo &&
		    w->addr - lo < ph->p_memsz) {
			w->file = o->dlpi_name;
			w->bias = o->dlpi_addr;
			w->found = true;
			return 1;
		}
	}
	return 0;
}

/* The function symbol of the mapped ELF file `elf` (size bytes) that
 * holds file address `at`, from its .symtab, else its .dynsym; *start:
 * the function's file address. */
static const char *lookup(const char *elf, size_t size, uintptr_t at,
			  uintptr_t *start)
{
	const ElfW(Ehdr) *eh = (const void *)elf;
	const ElfW(Shdr) * sh;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(*sh) > size)
		return NULL;
	sh = (const void *)(elf + eh->e_shoff);
	for (unsigned type = SHT_SYMTAB;; type = SHT_DYNSYM) {
		for (unsigned i = 0; i < eh->e_shnum; i++) {
			const ElfW(Shdr) *st = &sh[i], *str;
			if (st->sh_type != type || st->sh_link >= eh->e_shnum)
				continue;
			str = &sh[st->sh_link];
			if (st->sh_offset + st->sh_size > size ||
			    str->sh_offset + str->sh_size > size)
				continue;
			const ElfW(Sym) *sym =
				(const void *)(elf + st->sh_offset);
			size_t n = st->sh_size / sizeof(*sym);
			for (size_t k = 0; k < n; k++)
				if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC &&
				    at >= sym[k].st_value &&
				    at - sym[k].st_value <
					    (sym[k].st_size ? sym[k].st_size :
							      1) &&
				    sym[k].st_name < str->sh_size) {
					*start = sym[k].st_value;
					return elf + str->sh_offset +
					       sym[k].st_name;
				}
		}
		if (type == SHT_DYNSYM)
			return NULL;
	}
}

static bool from_file(const struct object *o, char *buf, size_t len,
		      uintptr_t *off)
{
	const char *path = *o->file ? o->file : "/proc/self/exe";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	const char *name = NULL;
	uintptr_t at = o->addr - o->bias, start = at;
	void *m;

	if (fd < 0)
		return false;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd,
			 0);
		if (m != MAP_FAILED) {
			name = lookup(m, (size_t)sb.st_size, at, &start);
			if (name)
				snprintf(buf, len, "%s", name);
			*off = at - start;
			munmap(m, (size_t)sb.st_size);
		}
	}
	close(fd);
	return name != NULL;
}

bool symbol_dladdr(uintptr_t addr, struct symbol_dl *out)
{
	const ElfW(Sym) *sym = NULL;
	Dl_info info;

	if (!dladdr1((void *)addr, &info, (void **)&sym, RTLD_DL_SYMENT) ||
	    !info.dli_fname)
		return false;
	out->object = info.dli_fname;
	out->obj_off = addr - (uintptr_t)info.dli_fbase;
	out->off = addr - (uintptr_t)info.dli_saddr;
	out->name = info.dli_sname && sym && out->off < sym->st_size ?
			    info.dli_sname :
			    NULL;
	return true;
}

bool symbol_find(uintptr_t addr, char *buf, size_t len, uintptr_t *off)
{
	struct object o = { .addr = addr };
	struct symbol_dl dl;

	if (!addr || !len)
		return false;
	if (symbol_dladdr(addr, &dl) && dl.name) {
		snprintf(buf, len, "%s", dl.name);
		*off = dl.off;
		return true;
	}
	dl_iterate_phdr(holds, &o);
	return o.found && from_file(&o, buf, len, off);
}

bool symbol_name(uintptr_t addr, char *buf, size_t len)
{
	uintptr_t off;

	return symbol_find(addr, buf, len, &off);
}
