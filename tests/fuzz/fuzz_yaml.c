/*
 * fuzz_yaml — the YAML reader (lib/ckpt/yaml.c over libyaml) and what reads its result:
 * the input as a detector's config.yaml, parsed to JSON, then read as the detector's
 * test-time config (lx_detector_config_from_hf) and checked, and as an LXMERT config
 * (lx_config_from_json, the reader of config.json).
 */
#include "fuzz.h"
#include "ckpt/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lx_error err = {0};
    json_t *v = lx_yaml_parse((const char *)data, size, "fuzz.yaml", &err);
    if (!v) {
        if (!err.msg[0]) abort();
        return 0;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    free(text);
    lx_detector_config dc;
    lx_detector_config_default(&dc);
    if (lx_detector_config_from_hf(&dc, v, &err) == 0) (void)lx_detector_config_check(&dc, &err);
    lx_config c;
    lx_config_default(&c);
    if (json_is_object(v) && lx_config_from_json(&c, v, &err) == 0) (void)lx_config_check(&c, &err);
    json_decref(v);
    return 0;
}
