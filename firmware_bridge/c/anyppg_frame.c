/*
 * anyppg_frame.c -- reference encoder for the anyppg open wire protocol, version 1.
 * See anyppg_frame.h for the API and docs/protocol.md for the byte layout.
 */
#include "anyppg_frame.h"

#include <string.h>

/* ---- little-endian writers ------------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static void put_f32(uint8_t *p, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits); /* IEEE-754 binary32 on every target we support */
    put_u32(p, bits);
}

/* ---- CRC and sizing -------------------------------------------------------------------------- */

uint16_t anyppg_crc16(const uint8_t *data, size_t len, uint16_t crc) {
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

size_t anyppg_format_size(uint8_t format) {
    switch (format) {
        case ANYPPG_FMT_INT16: return 2;
        case ANYPPG_FMT_INT24: return 3;
        case ANYPPG_FMT_FLOAT32: return 4;
        default: return 0;
    }
}

size_t anyppg_frame_size(size_t n_samples, size_t n_channels, uint8_t format) {
    return ANYPPG_ENVELOPE_OVERHEAD + ANYPPG_DATA_HEADER_SIZE + n_channels +
           n_samples * n_channels * anyppg_format_size(format);
}

size_t anyppg_max_samples_per_frame(uint16_t mtu, size_t n_channels, uint8_t format) {
    size_t width = anyppg_format_size(format);
    size_t fixed = ANYPPG_DATA_HEADER_SIZE + n_channels;
    size_t room = ANYPPG_MAX_BODY_SIZE - fixed;
    if (width == 0 || n_channels < 1 || n_channels > ANYPPG_MAX_CHANNELS) return 0;
    if (mtu != 0) {
        size_t budget = (size_t)mtu;
        if (budget < ANYPPG_ATT_OVERHEAD + ANYPPG_ENVELOPE_OVERHEAD + fixed) return 0;
        budget -= ANYPPG_ATT_OVERHEAD + ANYPPG_ENVELOPE_OVERHEAD + fixed;
        if (budget < room) room = budget;
    }
    return room / (n_channels * width);
}

/* ---- frames ---------------------------------------------------------------------------------- */

/* Write sync, version, type, length; the caller writes the body at out + 6, then calls finish. */
static void envelope_head(uint8_t *out, uint8_t frame_type, size_t body_len) {
    out[0] = ANYPPG_SYNC0;
    out[1] = ANYPPG_SYNC1;
    out[2] = ANYPPG_VERSION;
    out[3] = frame_type;
    put_u16(out + 4, (uint16_t)body_len);
}

static int envelope_finish(uint8_t *out, size_t body_len) {
    size_t end = ANYPPG_HEADER_SIZE + body_len;
    put_u16(out + end, anyppg_crc16(out + 2, end - 2, 0xFFFFu));
    return (int)(end + 2);
}

int anyppg_encode_envelope(uint8_t frame_type, const uint8_t *body, size_t body_len, uint8_t *out,
                           size_t out_cap) {
    if (body_len > ANYPPG_MAX_BODY_SIZE || (body_len > 0 && body == NULL) || out == NULL) return ANYPPG_E_ARG;
    if (out_cap < body_len + ANYPPG_ENVELOPE_OVERHEAD) return ANYPPG_E_SPACE;
    envelope_head(out, frame_type, body_len);
    if (body_len > 0) memmove(out + ANYPPG_HEADER_SIZE, body, body_len);
    return envelope_finish(out, body_len);
}

int anyppg_encoder_init(anyppg_encoder *enc, uint32_t rate_mhz, uint8_t format, const uint8_t *channels,
                        uint8_t n_channels, float scale) {
    if (enc == NULL || channels == NULL || rate_mhz == 0 || anyppg_format_size(format) == 0 ||
        n_channels < 1 || n_channels > ANYPPG_MAX_CHANNELS || (scale - scale) != 0.0f /* NaN or inf */) {
        return ANYPPG_E_ARG;
    }
    memset(enc, 0, sizeof *enc);
    enc->rate_mhz = rate_mhz;
    enc->format = format;
    enc->n_channels = n_channels;
    memcpy(enc->channels, channels, n_channels);
    enc->scale = scale;
    return 0;
}

/* Check the frame fits, write envelope head and data header; returns the body length or an error. */
static int data_head(const anyppg_encoder *enc, uint64_t timestamp_us, size_t n_samples, uint8_t *out,
                     size_t out_cap) {
    size_t width = anyppg_format_size(enc->format);
    size_t body_len;
    if (n_samples == 0 || width == 0) return ANYPPG_E_ARG;
    if (n_samples > (ANYPPG_MAX_BODY_SIZE - ANYPPG_DATA_HEADER_SIZE - enc->n_channels) /
                        ((size_t)enc->n_channels * width)) {
        return ANYPPG_E_ARG;
    }
    body_len = ANYPPG_DATA_HEADER_SIZE + enc->n_channels + n_samples * enc->n_channels * width;
    if (out == NULL || out_cap < body_len + ANYPPG_ENVELOPE_OVERHEAD) return ANYPPG_E_SPACE;
    envelope_head(out, ANYPPG_TYPE_DATA, body_len);
    out += ANYPPG_HEADER_SIZE;
    put_u16(out, enc->seq);
    put_u64(out + 2, timestamp_us);
    put_u32(out + 10, enc->rate_mhz);
    out[14] = enc->format;
    out[15] = enc->n_channels;
    put_f32(out + 16, enc->scale);
    memcpy(out + ANYPPG_DATA_HEADER_SIZE, enc->channels, enc->n_channels);
    return (int)body_len;
}

int anyppg_encode_i32(anyppg_encoder *enc, uint64_t timestamp_us, const int32_t *samples, size_t n_samples,
                      uint8_t *out, size_t out_cap) {
    int32_t lo, hi;
    size_t i, n_values;
    int body_len;
    uint8_t *p;
    if (enc == NULL || samples == NULL || enc->format == ANYPPG_FMT_FLOAT32) return ANYPPG_E_ARG;
    lo = enc->format == ANYPPG_FMT_INT16 ? -32768 : -8388608;
    hi = enc->format == ANYPPG_FMT_INT16 ? 32767 : 8388607;
    n_values = n_samples * enc->n_channels;
    for (i = 0; i < n_values; i++) {
        if (samples[i] < lo || samples[i] > hi) return ANYPPG_E_RANGE;
    }
    body_len = data_head(enc, timestamp_us, n_samples, out, out_cap);
    if (body_len < 0) return body_len;
    p = out + ANYPPG_HEADER_SIZE + ANYPPG_DATA_HEADER_SIZE + enc->n_channels;
    for (i = 0; i < n_values; i++) {
        uint32_t v = (uint32_t)samples[i]; /* two's complement: the low bytes are the wire value */
        *p++ = (uint8_t)(v & 0xFFu);
        *p++ = (uint8_t)((v >> 8) & 0xFFu);
        if (enc->format == ANYPPG_FMT_INT24) *p++ = (uint8_t)((v >> 16) & 0xFFu);
    }
    enc->seq = (uint16_t)(enc->seq + 1u);
    return envelope_finish(out, (size_t)body_len);
}

int anyppg_encode_f32(anyppg_encoder *enc, uint64_t timestamp_us, const float *samples, size_t n_samples,
                      uint8_t *out, size_t out_cap) {
    size_t i, n_values;
    int body_len;
    uint8_t *p;
    if (enc == NULL || samples == NULL || enc->format != ANYPPG_FMT_FLOAT32) return ANYPPG_E_ARG;
    body_len = data_head(enc, timestamp_us, n_samples, out, out_cap);
    if (body_len < 0) return body_len;
    n_values = n_samples * enc->n_channels;
    p = out + ANYPPG_HEADER_SIZE + ANYPPG_DATA_HEADER_SIZE + enc->n_channels;
    for (i = 0; i < n_values; i++, p += 4) put_f32(p, samples[i]);
    enc->seq = (uint16_t)(enc->seq + 1u);
    return envelope_finish(out, (size_t)body_len);
}

/* ---- info and control ------------------------------------------------------------------------ */

static int put_str(uint8_t *out, size_t out_cap, size_t *pos, const char *text) {
    size_t n = text == NULL ? 0 : strlen(text);
    if (n > 255) return ANYPPG_E_ARG;
    if (*pos + 1 + n > out_cap) return ANYPPG_E_SPACE;
    out[(*pos)++] = (uint8_t)n;
    if (n > 0) memcpy(out + *pos, text, n);
    *pos += n;
    return 0;
}

int anyppg_encode_info(const anyppg_encoder *enc, const char *const *units, const char *firmware_version,
                       uint8_t *out, size_t out_cap) {
    size_t pos = 0, i;
    int rc;
    if (enc == NULL || units == NULL || out == NULL) return ANYPPG_E_ARG;
    if (out_cap < 7u + enc->n_channels) return ANYPPG_E_SPACE;
    out[0] = ANYPPG_VERSION;
    put_u32(out + 1, enc->rate_mhz);
    out[5] = enc->format;
    out[6] = enc->n_channels;
    memcpy(out + 7, enc->channels, enc->n_channels);
    pos = 7u + enc->n_channels;
    for (i = 0; i < enc->n_channels; i++) {
        rc = put_str(out, out_cap, &pos, units[i]);
        if (rc != 0) return rc;
    }
    rc = put_str(out, out_cap, &pos, firmware_version);
    if (rc != 0) return rc;
    return pos <= ANYPPG_MAX_INFO_SIZE ? (int)pos : ANYPPG_E_ARG;
}

int anyppg_decode_control(const uint8_t *data, size_t len, anyppg_control *out) {
    if (data == NULL || out == NULL || len < 1) return ANYPPG_E_MALFORMED;
    out->opcode = data[0];
    out->rate_mhz = 0;
    switch (data[0]) {
        case ANYPPG_CTL_START:
        case ANYPPG_CTL_STOP:
        case ANYPPG_CTL_GET_INFO:
            return len == 1 ? 0 : ANYPPG_E_MALFORMED;
        case ANYPPG_CTL_SET_RATE:
            if (len != 5) return ANYPPG_E_MALFORMED;
            out->rate_mhz = (uint32_t)data[1] | ((uint32_t)data[2] << 8) | ((uint32_t)data[3] << 16) |
                            ((uint32_t)data[4] << 24);
            return out->rate_mhz == 0 ? ANYPPG_E_MALFORMED : 0;
        default:
            return ANYPPG_E_MALFORMED;
    }
}
