package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.Test;
import org.opensearch.OpenSearchException;

public class RerankConfigTest {

    private static Map<String, Object> config(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        m.put("ranker_url", "http://127.0.0.1:8000");
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static String refused(Map<String, Object> config) {
        OpenSearchException e = assertThrows(OpenSearchException.class, () -> RerankConfig.fromConfig("personalized_rerank", "t", config));
        return e.getMessage();
    }

    @Test
    public void defaultsAndRerankPathAdded() {
        Map<String, Object> m = config();
        RerankConfig c = RerankConfig.fromConfig("personalized_rerank", "t", m);
        assertEquals("http://127.0.0.1:8000/v1/rerank", c.rankerUrl().toString());
        assertEquals("item_id", c.idField());
        assertEquals(0.5, c.blendWeight(), 0.0);
        assertEquals(200, c.timeoutMs());
        assertEquals(100, c.maxHits());
        assertNull(c.apiKey());
        assertTrue("read settings are removed so OpenSearch can refuse unknown ones", m.isEmpty());
    }

    @Test
    public void explicitValuesAreKept() {
        RerankConfig c = RerankConfig.fromConfig("personalized_rerank", "t", config(
            "ranker_url", "https://ranker.shop:9443/custom/rerank", "id_field", "_id", "blend_weight", 0.8,
            "timeout_ms", 50, "max_hits", 1000, "api_key", "k"));
        assertEquals("https://ranker.shop:9443/custom/rerank", c.rankerUrl().toString());
        assertEquals("_id", c.idField());
        assertEquals(0.8, c.blendWeight(), 0.0);
        assertEquals(50, c.timeoutMs());
        assertEquals(1000, c.maxHits());
        assertEquals("k", c.apiKey());
    }

    @Test
    public void missingRankerUrlIsRefusedByName() {
        Map<String, Object> m = config();
        m.remove("ranker_url");
        assertTrue(refused(m).contains("[ranker_url]"));
    }

    @Test
    public void badValuesAreRefusedNamingTheSetting() {
        assertTrue(refused(config("ranker_url", "ftp://x/")).contains("[ranker_url]"));
        assertTrue(refused(config("ranker_url", "not a url")).contains("[ranker_url]"));
        assertTrue(refused(config("blend_weight", 1.5)).contains("[blend_weight]"));
        assertTrue(refused(config("blend_weight", -0.1)).contains("[blend_weight]"));
        assertTrue(refused(config("blend_weight", "lots")).contains("[blend_weight]"));
        assertTrue(refused(config("timeout_ms", 0)).contains("[timeout_ms]"));
        assertTrue(refused(config("timeout_ms", "soon")).contains("[timeout_ms]"));
        assertTrue(refused(config("max_hits", 1001)).contains("[max_hits]"));
        assertTrue(refused(config("max_hits", 0)).contains("[max_hits]"));
        assertTrue(refused(config("id_field", " ")).contains("[id_field]"));
    }

    @Test
    public void aRankerUrlWithUserInfoIsRefused() {
        String message = refused(config("ranker_url", "http://127.0.0.1:8000@10.0.0.5:9200/"));
        assertTrue(message, message.contains("[ranker_url] must not carry user info"));
    }
}
