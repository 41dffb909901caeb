/*
 * example_firmware.c -- the shape of a wearable's main loop using anyppg_frame.c.
 *
 * A "sensor" (a synthetic pulse wave, standing in for an AFE's FIFO) fills a buffer at 125 Hz with a
 * green-LED PPG channel and an ambient channel; whenever a frame's worth of samples is ready the loop
 * encodes it and hands it to the link: one frame per BLE notification, or back to back on a UART.
 * Here the "link" is stdout, so the host can decode the stream:
 *
 *     ./example_firmware 50 247 | python examples/decode_frames.py -
 *
 * Arguments: number of data frames (default 20), ATT MTU (default 247; 0 = serial framing sizes).
 * No heap, no libc beyond stdio for the demo link; the timestamp comes from a counter as a real device
 * would read its RTC / timer.
 */
#include <stdio.h>
#include <stdlib.h>

#include "anyppg_frame.h"

#define RATE_MHZ 125000u /* 125 Hz */
#define N_CHANNELS 2u
#define MAX_FRAME 300u   /* >= MTU - 3 for the MTUs this demo accepts */

static const uint8_t channels[N_CHANNELS] = {ANYPPG_CH_PPG_GREEN, ANYPPG_CH_PPG_AMBIENT};
static const char *const units[N_CHANNELS] = {"counts", "counts"};

/* One beat of a pulse wave (systolic rise, dicrotic notch), 32 points, in ADC counts above baseline. */
static const int32_t beat[32] = {0,    900,  2600, 4700, 6400, 7400, 7700, 7500, 7000, 6300, 5600,
                                 5000, 4600, 4500, 4600, 4700, 4600, 4300, 3900, 3500, 3100, 2700,
                                 2300, 2000, 1700, 1400, 1100, 850,  600,  400,  200,  80};

/* The link: a BLE notify or UART write on a device; stdout here. */
static void link_send(const uint8_t *frame, size_t len) { fwrite(frame, 1, len, stdout); }

/* What a control-characteristic write handler does with the bytes it receives. */
static int on_control_write(const uint8_t *value, size_t len, int *streaming) {
    anyppg_control ctl;
    if (anyppg_decode_control(value, len, &ctl) != 0) return -1; /* reject: ATT error on BLE */
    if (ctl.opcode == ANYPPG_CTL_START) *streaming = 1;
    if (ctl.opcode == ANYPPG_CTL_STOP) *streaming = 0;
    if (ctl.opcode == ANYPPG_CTL_SET_RATE && ctl.rate_mhz != RATE_MHZ) return -1; /* fixed-rate sensor */
    return 0;
}

int main(int argc, char **argv) {
    static anyppg_encoder enc;
    static int32_t fifo[ANYPPG_MAX_BODY_SIZE / 3];
    static uint8_t frame[MAX_FRAME > ANYPPG_MAX_BODY_SIZE ? MAX_FRAME : ANYPPG_MAX_BODY_SIZE + 8];
    static const uint8_t start_cmd[1] = {ANYPPG_CTL_START};
    long n_frames = argc > 1 ? strtol(argv[1], NULL, 10) : 20;
    long mtu = argc > 2 ? strtol(argv[2], NULL, 10) : 247;
    uint64_t t_us = 1000000u; /* device clock at the first sample (µs) */
    uint64_t sample_index = 0;
    int streaming = 0;
    size_t per_frame, i;
    long f;
    int len;

    if (n_frames < 0 || mtu < 0 || mtu > 65535 || (mtu != 0 && mtu - 3 > (long)MAX_FRAME)) {
        fprintf(stderr, "usage: %s [n_frames] [mtu 0 or 40..%u]\n", argv[0], MAX_FRAME + 3u);
        return 2;
    }
    if (anyppg_encoder_init(&enc, RATE_MHZ, ANYPPG_FMT_INT24, channels, N_CHANNELS, 1.0f) != 0) return 1;
    per_frame = anyppg_max_samples_per_frame((uint16_t)mtu, N_CHANNELS, ANYPPG_FMT_INT24);
    if (per_frame == 0) {
        fprintf(stderr, "MTU %ld cannot hold one sample\n", mtu);
        return 2;
    }
    if (mtu == 0 && per_frame > 125) per_frame = 125; /* serial: one second per frame keeps latency low */

    /* on a serial link the device describes itself first (on BLE the host reads the info characteristic) */
    len = anyppg_encode_info(&enc, units, "example-1.0", frame + ANYPPG_HEADER_SIZE,
                             sizeof frame - ANYPPG_ENVELOPE_OVERHEAD);
    if (len < 0) return 1;
    len = anyppg_encode_envelope(ANYPPG_TYPE_INFO, frame + ANYPPG_HEADER_SIZE, (size_t)len, frame, sizeof frame);
    if (len < 0) return 1;
    link_send(frame, (size_t)len);

    if (on_control_write(start_cmd, sizeof start_cmd, &streaming) != 0 || !streaming) return 1;

    for (f = 0; f < n_frames; f++) {
        uint64_t first_us = t_us + (sample_index * 1000000000u) / RATE_MHZ;
        for (i = 0; i < per_frame; i++, sample_index++) { /* the sensor ISR would fill this FIFO */
            /* 72 bpm: 32 table points per 60/72 s, in 1/256 steps, linearly interpolated */
            uint64_t pos = (sample_index * 32u * 72u * 256u) / (60u * 125u);
            int32_t k = (int32_t)((pos >> 8) % 32u), frac = (int32_t)(pos & 255u);
            int32_t next = beat[(k + 1) % 32];
            fifo[2 * i] = 400000 + beat[k] + ((next - beat[k]) * frac) / 256;
            fifo[2 * i + 1] = 1200 + (int32_t)(sample_index % 7u);
        }
        len = anyppg_encode_i32(&enc, first_us, fifo, per_frame, frame, sizeof frame);
        if (len < 0) {
            fprintf(stderr, "encode failed: %d\n", len);
            return 1;
        }
        link_send(frame, (size_t)len);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
