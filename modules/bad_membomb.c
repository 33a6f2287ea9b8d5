/* bad_membomb: a misbehaving test module that grows its memory until
 * memory.grow fails, touching every new 4 KiB page so that the memory is
 * really used. memory.grow fails at the lower of the module's declared
 * maximum and the node's cap. CMake builds it twice: bad_membomb.wasm with the
 * default 16 MiB maximum (a node with the default limit installs it) and
 * bad_membomb_big.wasm declaring the wasm32 maximum, 4 GiB (a node must refuse
 * it at install, or cap it). Properties:
 *   bomb_in    packet (default): on the first packet; init: in ns_init
 *   bomb_step  pages (64 KiB) per memory.grow, default 16 (1 MiB)
 *   bomb_then  trap (default): trap once memory.grow fails, as a C program
 *              would abort on a failed malloc; accept: return NS_ACCEPT
 * Counter: pages (the memory size in pages when memory.grow failed). */
#include <netserv.h>

#define WASM_PAGE 65536u

static int32_t c_pages;
static bool bomb_in_packet, bomb_trap;
static uint32_t step;

static void bomb(void)
{
	uint32_t n = step;
	for (;;) {
		size_t old = __builtin_wasm_memory_grow(0, n);
		if (old == (size_t)-1) {
			if (n == 1)
				break;
			n = 1; /* then page by page, up to the exact limit */
			continue;
		}
		/* Touch the new pages: write one byte in each 4 KiB page. */
		for (uint32_t off = 0; off < n * WASM_PAGE; off += 4096)
			*(volatile uint8_t *)(uintptr_t)(old * WASM_PAGE + off) = 1;
	}
	uint32_t pages = (uint32_t)__builtin_wasm_memory_size(0);
	ns_counter_add(c_pages, pages);
	ns_logf(NS_LOG_WARN, "bad_membomb: memory.grow failed at %u pages (%u MiB)", pages,
	        pages / 16);
	if (bomb_trap)
		__builtin_trap();
}

int32_t ns_init(void)
{
	c_pages = ns_counter_id("pages");
	step = ns_prop_u32("bomb_step", 16);
	if (step == 0)
		step = 1;
	bomb_trap = !ns_prop_is("bomb_then", "accept");
	if (ns_prop_is("bomb_in", "init"))
		bomb();
	else
		bomb_in_packet = true;
	return 0;
}

int32_t ns_packet(uint32_t len)
{
	(void)len;
	if (bomb_in_packet) {
		bomb_in_packet = false;
		bomb();
	}
	return NS_ACCEPT;
}
