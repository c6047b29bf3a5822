#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Line-buffered filter in front of fd 1: cmocka prints through stdout. */
static struct {
        char line[4096];
        size_t len;
} tap;

static void tap_emit(const char *s, size_t n)
{
        while (n > 0) {
                ssize_t w = write(STDOUT_FILENO, s, n);

                if (w <= 0)
                        return;
                s += w;
                n -= (size_t) w;
        }
}

static void tap_flush_line(void)
{
        static const char bad[] = "not ok ";

        if (tap.len >= sizeof(bad) - 1 && memcmp(tap.line, bad, sizeof(bad) - 1) == 0 &&
            memmem(tap.line, tap.len, " # SKIP", 7))
                tap_emit(tap.line + 4, tap.len - 4); /* drop "not " */
        else
                tap_emit(tap.line, tap.len);
        tap.len = 0;
}

static ssize_t tap_write(void *cookie, const char *buf, size_t size)
{
        (void) cookie;
        for (size_t i = 0; i < size; i++) {
                if (tap.len == sizeof(tap.line))
                        tap_flush_line(); /* overlong line: pass it on unfiltered */
                tap.line[tap.len++] = buf[i];
                if (buf[i] == '\n')
                        tap_flush_line();
        }
        return (ssize_t) size;
}

static int tap_close(void *cookie)
{
        (void) cookie;
        tap_flush_line();
        return 0;
}

void unit_tap_init(void)
{
        static const cookie_io_functions_t io = { .write = tap_write, .close = tap_close };
        FILE *f = fopencookie(NULL, "w", io);

        cmocka_set_message_output(CM_OUTPUT_TAP);
        if (!f)
                return;
        fflush(stdout);
        setvbuf(f, NULL, _IOLBF, 0);
        stdout = f;
}

bool unit_run_bugs(void)
{
        const char *v = getenv("PXCRI_TEST_BUGS");

        return v && strcmp(v, "1") == 0;
}

char *unit_mkdtemp(void)
{
        const char *base = getenv("TMPDIR");
        char *p = NULL;

        if (!base || !*base)
                base = "/tmp";
        assert_true(asprintf(&p, "%s/pxcri-unit-XXXXXX", base) > 0);
        assert_non_null(mkdtemp(p));
        return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) flag;
        (void) ftw;
        remove(path);
        return 0;
}

void unit_rm_rf(const char *path)
{
        if (path)
                nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *unit_path(const char *dir, const char *name)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

void unit_write(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

char *unit_read(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;
        ssize_t n;

        if (!f)
                return NULL;
        n = getdelim(&buf, &len, '\0', f);
        fclose(f);
        if (n < 0) {
                free(buf);
                return strdup("");
        }
        return buf;
}

size_t unit_count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

int unit_count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own descriptor */
}

double unit_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void unit_assert_contains(const char *haystack, const char *needle, const char *file, int line)
{
        if (haystack && strstr(haystack, needle))
                return;
        print_error("\"%s\" does not contain \"%s\"\n", haystack ? haystack : "(null)", needle);
        _fail(file, line);
}
