/* storage/1: the object store imports (abi/host_api.h) over the container's
 * store (store_objects.h), each module in its own namespace of keys. Every
 * pointer and length is checked against the module's memory (a bad one
 * traps); without a store (no quota) every call returns -EPERM. */
#include <errno.h>
#include <string.h>

#include "container/modhost_internal.h"
#include "container/store_objects.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_STORAGE(DECLARE_IMPORT)

/* Here rather than in modhost.c: the container calls it, which links these
 * imports (a static library's object nobody calls would be left out). */
void modhost_set_store(struct modhost *h, struct objstore *store)
{
	h->store = store;
}

/* Results of the store as an import's i32 (sizes stay below 2^31). */
static u32 result(int64_t r)
{
	return (u32)(int32_t)r;
}

u32 Z_netservZ_ns_store_put(struct Z_netserv_instance_t *ctx, u32 key, u32 key_len, u32 data,
                            u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *k = mem_at(m, key, key_len);
	const uint8_t *p = mem_at(m, data, len);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	IMPORT_RETURN(objstore_put(m->h->store, m->name, (const char *)k, key_len, p, len));
}

u32 Z_netservZ_ns_store_append(struct Z_netserv_instance_t *ctx, u32 key, u32 key_len, u32 data,
                               u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *k = mem_at(m, key, key_len);
	const uint8_t *p = mem_at(m, data, len);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	IMPORT_RETURN(
	        result(objstore_append(m->h->store, m->name, (const char *)k, key_len, p, len)));
}

u32 Z_netservZ_ns_store_read(struct Z_netserv_instance_t *ctx, u32 key, u32 key_len, u32 offset,
                             u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *k = mem_at(m, key, key_len);
	uint8_t *out = mem_at(m, buf, cap);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	IMPORT_RETURN(result(
	        objstore_read(m->h->store, m->name, (const char *)k, key_len, offset, out, cap)));
}

u32 Z_netservZ_ns_store_size(struct Z_netserv_instance_t *ctx, u32 key, u32 key_len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *k = mem_at(m, key, key_len);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	IMPORT_RETURN(result(objstore_size(m->h->store, m->name, (const char *)k, key_len)));
}

u32 Z_netservZ_ns_store_delete(struct Z_netserv_instance_t *ctx, u32 key, u32 key_len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *k = mem_at(m, key, key_len);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	IMPORT_RETURN(objstore_delete(m->h->store, m->name, (const char *)k, key_len));
}

u32 Z_netservZ_ns_store_next(struct Z_netserv_instance_t *ctx, u32 after, u32 after_len, u32 buf,
                             u32 cap)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *a = mem_at(m, after, after_len);
	uint8_t *out = mem_at(m, buf, cap);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	IMPORT_RETURN(
	        objstore_next(m->h->store, m->name, (const char *)a, after_len, (char *)out, cap));
}

u32 Z_netservZ_ns_store_usage(struct Z_netserv_instance_t *ctx, u32 ptr)
{
	IMPORT_BEGIN(ctx);
	uint8_t *out = mem_at(m, ptr, sizeof(struct ns_store_usage));
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	struct ns_store_usage u;
	objstore_usage(m->h->store, &u.used, &u.quota);
	memcpy(out, &u, sizeof(u)); /* little-endian, as wasm is (x86, arm64) */
	IMPORT_RETURN(0);
}
