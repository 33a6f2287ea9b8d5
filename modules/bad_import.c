/* bad_import: a misbehaving test module that imports netserv.ns_bogus, a
 * function no node provides (a capability that does not exist). The node must
 * refuse it at install time with a clear message. */
#include <netserv.h>

__attribute__((import_module("netserv"), import_name("ns_bogus"))) int32_t ns_bogus(uint32_t x);

int32_t ns_packet(uint32_t len)
{
	return ns_bogus(len) ? NS_DROP : NS_ACCEPT;
}
