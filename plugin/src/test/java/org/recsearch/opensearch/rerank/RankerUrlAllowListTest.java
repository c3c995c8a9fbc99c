package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.net.URI;
import java.util.List;

import org.junit.Test;
import org.opensearch.common.settings.Settings;

public class RankerUrlAllowListTest {

    private static RankerUrlAllowList of(String... entries) {
        return RerankSettings.allowList(Settings.builder().putList(RerankSettings.ALLOWED_URLS_KEY, entries).build());
    }

    @Test
    public void theDefaultAllowsNothing() {
        RankerUrlAllowList none = RerankSettings.allowList(Settings.EMPTY);
        assertTrue(none.isEmpty());
        assertFalse(none.allows(URI.create("http://127.0.0.1:8000/v1/rerank")));
    }

    @Test
    public void hostPortAndPathMustMatchByParts() {
        RankerUrlAllowList list = of("http://ranker.internal:8000", "https://api.example.com/recsearch/", "http://127.0.0.1:*");
        assertTrue(list.allows(URI.create("http://ranker.internal:8000/v1/rerank")));
        assertTrue(list.allows(URI.create("http://RANKER.internal:8000/v1/rerank")));
        assertTrue(list.allows(URI.create("https://api.example.com/recsearch/v1/rerank")));
        assertTrue(list.allows(URI.create("https://api.example.com:443/recsearch")));
        assertTrue(list.allows(URI.create("http://127.0.0.1:9999/v1/rerank")));
        assertFalse(list.allows(URI.create("http://ranker.internal:8001/v1/rerank")));          // another port
        assertFalse(list.allows(URI.create("http://ranker.internal/v1/rerank")));               // port 80
        assertFalse(list.allows(URI.create("https://ranker.internal:8000/v1/rerank")));         // another scheme
        assertFalse(list.allows(URI.create("http://ranker.internal.evil.example:8000/")));      // not a string prefix
        assertFalse(list.allows(URI.create("http://ranker.internal:8000@evil.example:8000/"))); // user info
        assertFalse(list.allows(URI.create("https://api.example.com/recsearch-admin/x")));      // path segment boundary
        assertFalse(list.allows(URI.create("https://api.example.com/other")));
        assertFalse(list.allows(URI.create("http://localhost:8000/v1/rerank")));                // hosts as written
    }

    @Test
    public void aCommaSeparatedValueIsAList() {
        // As the local node passes it: -Erecsearch.rerank.allowed_urls=http://127.0.0.1:*,https://r.example
        RankerUrlAllowList list = RerankSettings.allowList(
            Settings.builder().put(RerankSettings.ALLOWED_URLS_KEY, "http://127.0.0.1:*,https://r.example").build());
        assertTrue(list.allows(URI.create("https://r.example/v1/rerank")));
        assertTrue(list.allows(URI.create("http://127.0.0.1:1/v1/rerank")));
    }

    @Test
    public void aBadEntryNamesTheSetting() {
        for (String bad : List.of("ranker.internal:8000", "ftp://host", "http://host:99999", "http://user@host:1", "http://*:8000")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> of(bad).entries());
            assertTrue(e.getMessage(), e.getMessage().contains("[recsearch.rerank.allowed_urls]"));
        }
    }
}
