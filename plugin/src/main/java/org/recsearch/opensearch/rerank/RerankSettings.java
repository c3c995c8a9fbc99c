package org.recsearch.opensearch.rerank;

import java.util.List;

import org.opensearch.common.settings.SecureSetting;
import org.opensearch.common.settings.Setting;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.settings.SecureString;
import org.opensearch.core.common.unit.ByteSizeUnit;
import org.opensearch.core.common.unit.ByteSizeValue;

/**
 * The plugin's node settings (opensearch.yml, or the keystore for the key); all static: read at node start-up,
 * except the keystore key, which {@code POST _nodes/reload_secure_settings} reloads.
 */
public final class RerankSettings {

    private RerankSettings() {}

    public static final String ALLOWED_URLS_KEY = "recsearch.rerank.allowed_urls";
    public static final String API_KEY_KEY = "recsearch.rerank.api_key";

    /** Ranker URLs pipelines may call ({@link RankerUrlAllowList}); empty (the default): none. */
    public static final Setting<List<RankerUrlAllowList.Entry>> ALLOWED_URLS = Setting.listSetting(
        ALLOWED_URLS_KEY, List.of(), RankerUrlAllowList.Entry::parse, Setting.Property.NodeScope);

    /** The ranker's API key, from the node keystore; used when a pipeline sets no {@code api_key}. */
    public static final Setting<SecureString> API_KEY = SecureSetting.secureString(API_KEY_KEY, null);

    /** The largest ranker reply read; a longer one is cut off and counts as a failure. */
    public static final Setting<ByteSizeValue> MAX_RESPONSE_BYTES = Setting.byteSizeSetting(
        "recsearch.rerank.max_response_bytes", new ByteSizeValue(4, ByteSizeUnit.MB), new ByteSizeValue(1, ByteSizeUnit.KB),
        new ByteSizeValue(256, ByteSizeUnit.MB), Setting.Property.NodeScope);

    /** Threads of the HTTP client (its I/O completions and the parse of replies); the network wait holds none. */
    public static final Setting<Integer> HTTP_THREADS = Setting.intSetting(
        "recsearch.rerank.http_threads", 4, 1, 64, Setting.Property.NodeScope);

    public static List<Setting<?>> all() {
        return List.of(ALLOWED_URLS, API_KEY, MAX_RESPONSE_BYTES, HTTP_THREADS);
    }

    public static RankerUrlAllowList allowList(Settings settings) {
        return new RankerUrlAllowList(ALLOWED_URLS.get(settings));
    }

    /** The keystore's key, or null when the keystore has none. */
    public static String apiKey(Settings settings) {
        try (SecureString key = API_KEY.get(settings)) {
            return key == null || key.length() == 0 ? null : key.toString();
        }
    }

}
