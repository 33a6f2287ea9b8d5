/* bad_log: a misbehaving test module that says what is wrong in its log
 * (issue #20: the publisher sees its module's log lines).
 *   refuse=1 (default): logs "bad property x" and refuses to start
 *            (ns_init returns -NS_EINVAL): the SETUP fails with that line.
 *   refuse=0: logs "started", then every trap_ms (default 20) logs
 *            "tick N" and traps (division by zero): the instance is
 *            discarded, ns_init runs again, and after the node's trap limit
 *            the module is failed. lines=N logs N more lines at start
 *            ("line I"), to fill the node's ring. */
#include <netserv.h>

static volatile int32_t zero;
static uint32_t ticks;

int32_t ns_init(void)
{
	if (ns_prop_u32("refuse", 1)) {
		ns_logs(NS_LOG_ERR, "bad property x");
		return -NS_EINVAL;
	}
	ns_logs(NS_LOG_INFO, "started");
	uint32_t lines = ns_prop_u32("lines", 0);
	for (uint32_t i = 0; i < lines; i++)
		ns_logf(NS_LOG_DEBUG, "line %u", i);
	return ns_timer_set(1, ns_prop_u32("trap_ms", 20), true);
}

void ns_timer(uint32_t id)
{
	(void)id;
	ns_logf(NS_LOG_WARN, "tick %u", ++ticks);
	ns_logs(NS_LOG_WARN, (const char *)(uintptr_t)(1000 / zero));
}
