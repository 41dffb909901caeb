/*
 * anyppg_frame.h -- reference encoder for the anyppg open wire protocol, version 1.
 *
 * C99, no dynamic memory, no dependencies beyond <stdint.h>/<stddef.h>/<string.h>. Every function
 * writes into a buffer the caller owns and returns the number of bytes written, or a negative
 * ANYPPG_E_* code. The byte layout is specified in docs/protocol.md; the Python codec
 * (anyppg.firmware_bridge.protocol) decodes exactly these bytes, and the test suite checks the two
 * byte for byte.
 *
 * Typical firmware use:
 *
 *     static anyppg_encoder enc;
 *     static const uint8_t chans[] = {ANYPPG_CH_PPG_GREEN, ANYPPG_CH_PPG_AMBIENT};
 *     anyppg_encoder_init(&enc, 125000u, ANYPPG_FMT_INT24, chans, 2, 1.0f);
 *     ...
 *     uint8_t frame[244];
 *     size_t n = anyppg_max_samples_per_frame(mtu, 2, ANYPPG_FMT_INT24);
 *     int len = anyppg_encode_i32(&enc, t_first_us, samples, n, frame, sizeof frame);
 *     if (len > 0) ble_notify(frame, (size_t)len);   // or uart_write(frame, len)
 */
#ifndef ANYPPG_FRAME_H
#define ANYPPG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ANYPPG_SYNC0 0xA5u
#define ANYPPG_SYNC1 0x5Au
#define ANYPPG_VERSION 1u
#define ANYPPG_HEADER_SIZE 6u         /* sync(2) version(1) type(1) length(2) */
#define ANYPPG_ENVELOPE_OVERHEAD 8u   /* header + CRC-16 */
#define ANYPPG_DATA_HEADER_SIZE 20u   /* seq, timestamp, rate, format, channel count, scale */
#define ANYPPG_MAX_CHANNELS 16u
#define ANYPPG_MAX_BODY_SIZE 8192u
#define ANYPPG_ATT_OVERHEAD 3u        /* a notification carries MTU - 3 bytes */
#define ANYPPG_MAX_INFO_SIZE 512u     /* an ATT attribute value, hence the info packet, is <= 512 bytes */

/* frame types (byte 3) */
#define ANYPPG_TYPE_DATA 1u
#define ANYPPG_TYPE_INFO 2u
#define ANYPPG_TYPE_CONTROL 3u

/* sample formats */
typedef enum { ANYPPG_FMT_INT16 = 0, ANYPPG_FMT_INT24 = 1, ANYPPG_FMT_FLOAT32 = 2 } anyppg_format;

/* channel ids (see anyppg.firmware_bridge.protocol.Channel) */
enum {
    ANYPPG_CH_PPG_GREEN = 0x01,
    ANYPPG_CH_PPG_RED = 0x02,
    ANYPPG_CH_PPG_IR = 0x03,
    ANYPPG_CH_PPG_AMBIENT = 0x04,
    ANYPPG_CH_PPG_GREEN_2 = 0x05,
    ANYPPG_CH_PPG_GREEN_3 = 0x06,
    ANYPPG_CH_PPG_BLUE = 0x07,
    ANYPPG_CH_ECG = 0x10,
    ANYPPG_CH_ACC_X = 0x20,
    ANYPPG_CH_ACC_Y = 0x21,
    ANYPPG_CH_ACC_Z = 0x22,
    ANYPPG_CH_GYRO_X = 0x23,
    ANYPPG_CH_GYRO_Y = 0x24,
    ANYPPG_CH_GYRO_Z = 0x25,
    ANYPPG_CH_TEMPERATURE = 0x30
};

/* control opcodes */
enum { ANYPPG_CTL_START = 0x01, ANYPPG_CTL_STOP = 0x02, ANYPPG_CTL_SET_RATE = 0x03, ANYPPG_CTL_GET_INFO = 0x04 };

/* error codes (negative return values) */
#define ANYPPG_E_ARG (-1)      /* a parameter is out of range */
#define ANYPPG_E_SPACE (-2)    /* the output buffer is too small */
#define ANYPPG_E_RANGE (-3)    /* a sample does not fit the format */
#define ANYPPG_E_MALFORMED (-4) /* an input packet does not decode */

typedef struct {
    uint16_t seq;                           /* next sequence number; wraps 65535 -> 0 */
    uint32_t rate_mhz;                      /* sample rate in millihertz */
    uint8_t format;                         /* anyppg_format */
    uint8_t n_channels;                     /* 1..16 */
    uint8_t channels[ANYPPG_MAX_CHANNELS];  /* channel ids, column order */
    float scale;                            /* physical units per count */
} anyppg_encoder;

typedef struct {
    uint8_t opcode;    /* ANYPPG_CTL_* */
    uint32_t rate_mhz; /* for ANYPPG_CTL_SET_RATE, else 0 */
} anyppg_control;

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); pass 0xFFFF to start, the result to continue. */
uint16_t anyppg_crc16(const uint8_t *data, size_t len, uint16_t crc);

/* Bytes per value of a format (2, 3, 4), or 0 for an unknown format. */
size_t anyppg_format_size(uint8_t format);

/* Size in bytes of a data frame of n_samples x n_channels values. */
size_t anyppg_frame_size(size_t n_samples, size_t n_channels, uint8_t format);

/* Most samples per channel a data frame can carry: in mtu - 3 bytes (BLE), or, with mtu == 0, in
 * the largest body (serial). Returns 0 when not even one sample fits or a parameter is invalid. */
size_t anyppg_max_samples_per_frame(uint16_t mtu, size_t n_channels, uint8_t format);

/* Set up an encoder. Returns 0, or ANYPPG_E_ARG for a bad rate / format / channel count. */
int anyppg_encoder_init(anyppg_encoder *enc, uint32_t rate_mhz, uint8_t format, const uint8_t *channels,
                        uint8_t n_channels, float scale);

/* Encode one data frame of n_samples integer samples (row-major, n_samples x n_channels) whose
 * first sample was taken at timestamp_us; advances enc->seq. Returns the frame length, or
 * ANYPPG_E_ARG / ANYPPG_E_SPACE / ANYPPG_E_RANGE (a value outside int16 / int24; nothing is written
 * and seq is unchanged). Not for ANYPPG_FMT_FLOAT32 encoders. */
int anyppg_encode_i32(anyppg_encoder *enc, uint64_t timestamp_us, const int32_t *samples, size_t n_samples,
                      uint8_t *out, size_t out_cap);

/* As anyppg_encode_i32 for an ANYPPG_FMT_FLOAT32 encoder. */
int anyppg_encode_f32(anyppg_encoder *enc, uint64_t timestamp_us, const float *samples, size_t n_samples,
                      uint8_t *out, size_t out_cap);

/* Device-info packet (the info characteristic's value; also the body of an INFO frame). units[i] is the
 * NUL-terminated unit of channel i; firmware_version is NUL-terminated (each at most 255 bytes, the
 * whole packet at most ANYPPG_MAX_INFO_SIZE). Returns its length, or ANYPPG_E_ARG / ANYPPG_E_SPACE. */
int anyppg_encode_info(const anyppg_encoder *enc, const char *const *units, const char *firmware_version,
                       uint8_t *out, size_t out_cap);

/* Wrap a body (an info packet, a control command) in a frame of the given type for a serial link.
 * Returns the frame length, or ANYPPG_E_ARG / ANYPPG_E_SPACE. */
int anyppg_encode_envelope(uint8_t frame_type, const uint8_t *body, size_t body_len, uint8_t *out,
                           size_t out_cap);

/* Decode a control command (the control characteristic's value, or a CONTROL frame's body).
 * Returns 0, or ANYPPG_E_MALFORMED for an unknown opcode, a wrong length or a zero rate. */
int anyppg_decode_control(const uint8_t *data, size_t len, anyppg_control *out);

#ifdef __cplusplus
}
#endif

#endif /* ANYPPG_FRAME_H */
