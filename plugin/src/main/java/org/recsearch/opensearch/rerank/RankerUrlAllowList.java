package org.recsearch.opensearch.rerank;

import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The ranker URLs a node lets a pipeline call: the node setting {@code recsearch.rerank.allowed_urls}, a list of
 * entries {@code http[s]://host[:port|:*][/path]}. A URL is allowed when an entry has its scheme, its host (compared
 * as written, case-insensitively: {@code localhost} is not {@code 127.0.0.1}), its port ({@code *}: any port; none:
 * the scheme's default) and, when the entry has a path, a path at or below it. Matching is by parts, never by string
 * prefix, so {@code http://ranker} does not allow {@code http://ranker.evil.example} nor {@code http://ranker@evil}.
 * An empty list allows nothing.
 */
public final class RankerUrlAllowList {

    /** One allowed prefix; {@code port} -1 is any port. */
    public record Entry(String scheme, String host, int port, String path) {

        private static final Pattern FORM = Pattern.compile(
            "(?i)(https?)://([A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\])(?::(\\d{1,5}|\\*))?(/[^?#]*)?");

        /** Parse one entry; a bad one is an {@link IllegalArgumentException} naming the setting (the node does not start). */
        public static Entry parse(String text) {
            Matcher m = FORM.matcher(text.trim());
            if (!m.matches()) {
                throw new IllegalArgumentException("[" + RerankSettings.ALLOWED_URLS_KEY + "] entry [" + text
                    + "] must look like http://host:port, http://host:*, or https://host/path");
            }
            String scheme = m.group(1).toLowerCase(Locale.ROOT);
            int port;
            if (m.group(3) == null) {
                port = defaultPort(scheme);
            } else if (m.group(3).equals("*")) {
                port = -1;
            } else {
                port = Integer.parseInt(m.group(3));
                if (port < 1 || port > 65535) {
                    throw new IllegalArgumentException("[" + RerankSettings.ALLOWED_URLS_KEY + "] entry [" + text + "] has a bad port");
                }
            }
            String path = m.group(4) == null ? "" : m.group(4);
            if (path.endsWith("/")) {
                path = path.substring(0, path.length() - 1);
            }
            return new Entry(scheme, m.group(2).toLowerCase(Locale.ROOT), port, path);
        }

        boolean allows(URI url) {
            String host = url.getHost() == null ? "" : url.getHost().toLowerCase(Locale.ROOT);
            int urlPort = url.getPort() == -1 ? defaultPort(url.getScheme().toLowerCase(Locale.ROOT)) : url.getPort();
            String urlPath = url.getPath() == null ? "" : url.getPath();
            return scheme.equalsIgnoreCase(url.getScheme())
                && host.equals(this.host)
                && (port == -1 || port == urlPort)
                && (path.isEmpty() || urlPath.equals(path) || urlPath.startsWith(path + "/"));
        }

        @Override
        public String toString() {
            return scheme + "://" + host + (port == -1 ? ":*" : ":" + port) + path;
        }
    }

    private final List<Entry> entries;

    public RankerUrlAllowList(List<Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    /** Whether {@code url} (absolute, without user info) may be called. */
    public boolean allows(URI url) {
        if (url.getRawUserInfo() != null || url.getScheme() == null) {
            return false;
        }
        return entries.stream().anyMatch(e -> e.allows(url));
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    public List<Entry> entries() {
        return entries;
    }

    private static int defaultPort(String scheme) {
        return scheme.equals("https") ? 443 : 80;
    }
}
