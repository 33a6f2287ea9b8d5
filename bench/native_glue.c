/* Compiled into each native module of bench/module-call (with
 * -fvisibility=hidden, as the AOT step compiles the wasm2c output): exports
 * the address of the SDK's packet buffer, which a wasm module gives through
 * its ns_packet_buffer export. */
#include <netserv.h>

__attribute__((visibility("default"))) uint8_t *ns_bench_packet_buffer(void);

uint8_t *ns_bench_packet_buffer(void)
{
	return ns_sdk_packet;
}
