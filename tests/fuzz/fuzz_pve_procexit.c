/* libFuzzer target: proc connector datagrams (src/backend/proxmox/pmx_procexit.c).
 * The first 4 bytes are the tgid watched, the rest one datagram.
 * Invariants: no crash, no read past the datagram; a status only with an
 * event of the leader; 1 only when an event of tgid was there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/pmx_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pmx_exit_watch w = { 0 };
        int32_t tgid;
        void *buf;
        int r;

        if (size < sizeof(tgid))
                return 0;
        memcpy(&tgid, data, sizeof(tgid));
        /* a copy of exactly the datagram's size: ASan sees any overread */
        buf = malloc(size - sizeof(tgid) + 1);
        if (!buf)
                return 0;
        memcpy(buf, data + sizeof(tgid), size - sizeof(tgid));
        r = pmx_procexit_parse(buf, size - sizeof(tgid), (pid_t) tgid, &w);
        if (r < -1000 || r > 1 || (w.have && !w.leader) || (r == 0 && w.have))
                abort();
        free(buf);
        return 0;
}
