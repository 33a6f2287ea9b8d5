/* passthrough: accepts every packet unchanged. The smallest packet module and
 * the baseline of bench/module-call (the cost of the call itself). */
#include <netserv.h>

int32_t ns_packet(uint32_t len)
{
	(void)len;
	return NS_ACCEPT;
}
