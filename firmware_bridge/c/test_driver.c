/*
 * test_driver.c -- drives anyppg_frame.c from text commands on stdin, one per line, and prints one
 * result line per command (hex bytes, a number, or "E<code>"). The Python test suite uses it to
 * compare the C encoder with the Python codec byte for byte.
 *
 *   crc HEX                                      -> CRC-16 as 4 hex digits
 *   max MTU NCH FMT                              -> max samples per frame
 *   frame SEQ TS RATE_MHZ FMT SCALE_BITS NCH CH.. N V..  -> frame hex (float values as hex bits)
 *   info RATE_MHZ FMT NCH CH.. UNIT.. FIRMWARE   -> info packet hex ("-" for an empty string)
 *   envelope TYPE HEX                            -> frame hex ("-" for an empty body)
 *   control HEX                                  -> "OPCODE RATE_MHZ" or "E<code>"
 */
#include <stdio.h>
#include <string.h>

#include "anyppg_frame.h"

#define MAX_VALUES 8192
#define MAX_BYTES 9000

static int32_t ivalues[MAX_VALUES];
static float fvalues[MAX_VALUES];
static uint8_t buf[MAX_BYTES];
static uint8_t in[MAX_BYTES];

static void print_hex(const uint8_t *p, int n) {
    int i;
    for (i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

static int print_result(int n) {
    if (n < 0) {
        printf("E%d\n", n);
        return 0;
    }
    print_hex(buf, n);
    return 0;
}

static int read_hex(size_t *len) {
    char text[2 * MAX_BYTES + 2];
    size_t i, n;
    if (scanf("%18001s", text) != 1) return -1;
    if (strcmp(text, "-") == 0) {
        *len = 0;
        return 0;
    }
    n = strlen(text) / 2;
    for (i = 0; i < n; i++) {
        unsigned int byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1) return -1;
        in[i] = (uint8_t)byte;
    }
    *len = n;
    return 0;
}

static int read_channels(uint8_t *channels, unsigned *nch) {
    unsigned i, c;
    if (scanf("%u", nch) != 1 || *nch > ANYPPG_MAX_CHANNELS) return -1;
    for (i = 0; i < *nch; i++) {
        if (scanf("%u", &c) != 1) return -1;
        channels[i] = (uint8_t)c;
    }
    return 0;
}

static int cmd_frame(void) {
    unsigned seq, fmt, nch, n, i;
    unsigned long long ts;
    unsigned long rate, scale_bits;
    uint8_t channels[ANYPPG_MAX_CHANNELS];
    float scale;
    uint32_t bits32;
    anyppg_encoder enc;
    int rc;
    if (scanf("%u %llu %lu %u %lx", &seq, &ts, &rate, &fmt, &scale_bits) != 5) return -1;
    if (read_channels(channels, &nch) != 0 || scanf("%u", &n) != 1 || n * nch > MAX_VALUES) return -1;
    for (i = 0; i < n * nch; i++) {
        if (fmt == ANYPPG_FMT_FLOAT32) {
            unsigned long b;
            if (scanf("%lx", &b) != 1) return -1;
            bits32 = (uint32_t)b;
            memcpy(&fvalues[i], &bits32, sizeof bits32);
        } else {
            long v;
            if (scanf("%ld", &v) != 1) return -1;
            ivalues[i] = (int32_t)v;
        }
    }
    bits32 = (uint32_t)scale_bits;
    memcpy(&scale, &bits32, sizeof scale);
    rc = anyppg_encoder_init(&enc, (uint32_t)rate, (uint8_t)fmt, channels, (uint8_t)nch, scale);
    if (rc != 0) return print_result(rc);
    enc.seq = (uint16_t)seq;
    if (fmt == ANYPPG_FMT_FLOAT32) {
        rc = anyppg_encode_f32(&enc, (uint64_t)ts, fvalues, n, buf, sizeof buf);
    } else {
        rc = anyppg_encode_i32(&enc, (uint64_t)ts, ivalues, n, buf, sizeof buf);
    }
    if (rc > 0 && enc.seq != (uint16_t)(seq + 1u)) return -1;
    return print_result(rc);
}

static int cmd_info(void) {
    unsigned fmt, nch, i;
    unsigned long rate;
    uint8_t channels[ANYPPG_MAX_CHANNELS];
    static char units[ANYPPG_MAX_CHANNELS][260];
    const char *unit_ptrs[ANYPPG_MAX_CHANNELS];
    static char firmware[260];
    anyppg_encoder enc;
    int rc;
    if (scanf("%lu %u", &rate, &fmt) != 2 || read_channels(channels, &nch) != 0) return -1;
    for (i = 0; i < nch; i++) {
        if (scanf("%259s", units[i]) != 1) return -1;
        unit_ptrs[i] = strcmp(units[i], "-") == 0 ? "" : units[i];
    }
    if (scanf("%259s", firmware) != 1) return -1;
    rc = anyppg_encoder_init(&enc, (uint32_t)rate, (uint8_t)fmt, channels, (uint8_t)nch, 1.0f);
    if (rc != 0) return print_result(rc);
    return print_result(
        anyppg_encode_info(&enc, unit_ptrs, strcmp(firmware, "-") == 0 ? "" : firmware, buf, sizeof buf));
}

int main(void) {
    char cmd[16];
    while (scanf("%15s", cmd) == 1) {
        int rc = 0;
        size_t len;
        if (strcmp(cmd, "crc") == 0) {
            rc = read_hex(&len);
            if (rc == 0) printf("%04x\n", anyppg_crc16(in, len, 0xFFFFu));
        } else if (strcmp(cmd, "max") == 0) {
            unsigned mtu, nch, fmt;
            rc = scanf("%u %u %u", &mtu, &nch, &fmt) == 3 ? 0 : -1;
            if (rc == 0) printf("%lu\n", (unsigned long)anyppg_max_samples_per_frame((uint16_t)mtu, nch, (uint8_t)fmt));
        } else if (strcmp(cmd, "frame") == 0) {
            rc = cmd_frame();
        } else if (strcmp(cmd, "info") == 0) {
            rc = cmd_info();
        } else if (strcmp(cmd, "envelope") == 0) {
            unsigned type;
            rc = scanf("%u", &type) == 1 ? read_hex(&len) : -1;
            if (rc == 0) print_result(anyppg_encode_envelope((uint8_t)type, in, len, buf, sizeof buf));
        } else if (strcmp(cmd, "control") == 0) {
            anyppg_control ctl;
            rc = read_hex(&len);
            if (rc == 0) {
                int r = anyppg_decode_control(in, len, &ctl);
                if (r != 0) printf("E%d\n", r);
                else printf("%u %lu\n", (unsigned)ctl.opcode, (unsigned long)ctl.rate_mhz);
            }
        } else {
            rc = -1;
        }
        if (rc != 0) {
            fprintf(stderr, "test_driver: bad command '%s'\n", cmd);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}
