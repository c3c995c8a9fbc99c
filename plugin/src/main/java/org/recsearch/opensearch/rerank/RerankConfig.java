package org.recsearch.opensearch.rerank;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Map;

import org.opensearch.ingest.ConfigurationUtils;

/**
 * The settings of one {@code personalized_rerank} processor, read and checked when the pipeline is created.
 *
 * <p>Every bad value is refused with {@link ConfigurationUtils#newConfigurationException}, whose message names the
 * setting, so {@code PUT _search/pipeline/...} answers 400 with e.g. {@code [blend_weight] must be between 0 and 1}.
 *
 * @param rankerUrl  the ranker service's {@code /v1/rerank} endpoint (the path is added when the URL has none)
 * @param idField    the hit field holding the item id the ranker knows ({@code _id} for the document id)
 * @param blendWeight weight {@code w} of the ranker in {@code (1-w)*minmax(os) + w*minmax(ranker)}
 * @param timeoutMs  the whole ranker call, connect included; past it the original order comes back
 * @param maxHits    how many of the top hits are sent and reordered; the rest keep their place after them
 * @param apiKey     sent as {@code Authorization: Bearer <key>} when set
 */
public record RerankConfig(URI rankerUrl, String idField, double blendWeight, int timeoutMs, int maxHits, String apiKey) {

    public static final String RANKER_URL = "ranker_url";
    public static final String ID_FIELD = "id_field";
    public static final String BLEND_WEIGHT = "blend_weight";
    public static final String TIMEOUT_MS = "timeout_ms";
    public static final String MAX_HITS = "max_hits";
    public static final String API_KEY = "api_key";

    public static final String DEFAULT_ID_FIELD = "item_id";
    public static final double DEFAULT_BLEND_WEIGHT = 0.5;
    public static final int DEFAULT_TIMEOUT_MS = 200;
    public static final int DEFAULT_MAX_HITS = 100;
    /** The ranker's contract accepts at most this many hits per call. */
    public static final int MAX_HITS_LIMIT = 1000;
    public static final int MAX_TIMEOUT_MS = 60_000;

    /** Read (and remove) this processor's settings from {@code config}; unknown keys are left for OpenSearch to refuse. */
    public static RerankConfig fromConfig(String type, String tag, Map<String, Object> config) {
        String url = ConfigurationUtils.readStringProperty(type, tag, config, RANKER_URL);
        URI uri = parseUrl(type, tag, url);
        String idField = ConfigurationUtils.readStringProperty(type, tag, config, ID_FIELD, DEFAULT_ID_FIELD);
        if (idField.isBlank()) {
            throw ConfigurationUtils.newConfigurationException(type, tag, ID_FIELD, "must not be empty");
        }
        // readDoubleProperty has no default (a missing key is "required"): only read it when given.
        double w = config.containsKey(BLEND_WEIGHT)
            ? ConfigurationUtils.readDoubleProperty(type, tag, config, BLEND_WEIGHT)
            : DEFAULT_BLEND_WEIGHT;
        if (!(w >= 0.0 && w <= 1.0)) {
            throw ConfigurationUtils.newConfigurationException(type, tag, BLEND_WEIGHT, "must be between 0 and 1, got [" + w + "]");
        }
        int timeout = ConfigurationUtils.readIntProperty(type, tag, config, TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
        if (timeout < 1 || timeout > MAX_TIMEOUT_MS) {
            throw ConfigurationUtils.newConfigurationException(
                type, tag, TIMEOUT_MS, "must be between 1 and " + MAX_TIMEOUT_MS + " milliseconds, got [" + timeout + "]");
        }
        int maxHits = ConfigurationUtils.readIntProperty(type, tag, config, MAX_HITS, DEFAULT_MAX_HITS);
        if (maxHits < 1 || maxHits > MAX_HITS_LIMIT) {
            throw ConfigurationUtils.newConfigurationException(
                type, tag, MAX_HITS, "must be between 1 and " + MAX_HITS_LIMIT + " (the ranker's limit), got [" + maxHits + "]");
        }
        String apiKey = ConfigurationUtils.readOptionalStringProperty(type, tag, config, API_KEY);
        return new RerankConfig(uri, idField, w, timeout, maxHits, apiKey == null || apiKey.isBlank() ? null : apiKey);
    }

    private static URI parseUrl(String type, String tag, String url) {
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw ConfigurationUtils.newConfigurationException(type, tag, RANKER_URL, "is not a URL: [" + url + "]");
        }
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
            throw ConfigurationUtils.newConfigurationException(
                type, tag, RANKER_URL, "must be an absolute http(s) URL such as http://127.0.0.1:8000, got [" + url + "]");
        }
        if (uri.getRawUserInfo() != null) {
            throw ConfigurationUtils.newConfigurationException(
                type, tag, RANKER_URL, "must not carry user info (user:password@); use [" + API_KEY + "] or the keystore");
        }
        String path = uri.getPath();
        if (path == null || path.isEmpty() || path.equals("/")) {
            uri = uri.resolve("/v1/rerank");
        }
        return uri;
    }
}
