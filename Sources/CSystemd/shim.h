// libsystemd's sd_journal_send and sd_notifyf are variadic, which Swift cannot call; everything here takes
// fixed arguments. sd_journal_sendv takes an iovec array of "FIELD=value" entries (values may hold any bytes).
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

static inline int sw_sd_notify(int unset_environment, const char *state) {
    return sd_notify(unset_environment, state);
}

static inline int sw_sd_journal_sendv(const struct iovec *iov, int n) {
    return sd_journal_sendv(iov, n);
}

/// Returns >0 and sets *usec when systemd expects keep-alive pings for this process, 0 when not, <0 on error.
static inline int sw_sd_watchdog_enabled(int unset_environment, unsigned long long *usec) {
    uint64_t value = 0;
    int r = sd_watchdog_enabled(unset_environment, &value);
    if (usec) *usec = (unsigned long long)value;
    return r;
}
