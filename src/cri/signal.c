/* Signals by CRI enum value and by name (an image's StopSignal). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cri/cri.h"

static const struct {
        const char *name;
        int sig;
} signals[] = {
        { "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "BUS", SIGBUS },   { "CHLD", SIGCHLD }, { "CLD", SIGCHLD },
        { "CONT", SIGCONT }, { "FPE", SIGFPE },   { "HUP", SIGHUP },   { "ILL", SIGILL },   { "INT", SIGINT },
        { "IO", SIGIO },     { "IOT", SIGIOT },   { "KILL", SIGKILL }, { "PIPE", SIGPIPE }, { "POLL", SIGPOLL },
        { "PROF", SIGPROF }, { "PWR", SIGPWR },   { "QUIT", SIGQUIT }, { "SEGV", SIGSEGV }, { "STKFLT", SIGSTKFLT },
        { "STOP", SIGSTOP }, { "SYS", SIGSYS },   { "TERM", SIGTERM }, { "TRAP", SIGTRAP }, { "TSTP", SIGTSTP },
        { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },   { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
        { "VTALRM", SIGVTALRM }, { "WINCH", SIGWINCH }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
};

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3"; 0 when unknown. */
int cri_signal_from_name(const char *name)
{
        char *end;
        long n;

        if (!name || !*name)
                return 0;
        n = strtol(name, &end, 10);
        if (!*end)
                return n > 0 && n < NSIG ? (int) n : 0;
        if (strncasecmp(name, "SIG", 3) == 0)
                name += 3;
        if (strncasecmp(name, "RTMIN", 5) == 0) {
                n = name[5] == '+' ? strtol(name + 6, &end, 10) : 0;
                return SIGRTMIN + (int) n <= SIGRTMAX ? SIGRTMIN + (int) n : 0;
        }
        if (strncasecmp(name, "RTMAX", 5) == 0) {
                n = name[5] == '-' ? strtol(name + 6, &end, 10) : 0;
                return SIGRTMAX - (int) n >= SIGRTMIN ? SIGRTMAX - (int) n : 0;
        }
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
                if (strcasecmp(signals[i].name, name) == 0)
                        return signals[i].sig;
        return 0;
}

int cri_signal_from_enum(int v)
{
        const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(&runtime__v1__signal__descriptor, v);
        char name[32];
        const char *p;

        if (!e || v == 0)
                return 0;
        /* SIGRTMINPLUS3 -> SIGRTMIN+3, SIGRTMAXMINUS2 -> SIGRTMAX-2 */
        if ((p = strstr(e->name, "PLUS")) || (p = strstr(e->name, "MINUS"))) {
                size_t head = (size_t) (p - e->name);

                snprintf(name, sizeof(name), "%.*s%c%s", (int) head, e->name, p[0] == 'P' ? '+' : '-',
                         p + (p[0] == 'P' ? 4 : 5));
                return cri_signal_from_name(name);
        }
        return cri_signal_from_name(e->name);
}
