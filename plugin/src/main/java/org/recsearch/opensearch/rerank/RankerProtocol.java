package org.recsearch.opensearch.rerank;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.opensearch.common.xcontent.XContentFactory;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.common.bytes.BytesReference;
import org.opensearch.core.xcontent.DeprecationHandler;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;

/**
 * The JSON of the ranker's {@code /v1/rerank} contract (docs/architecture.md), written and read with the XContent
 * classes OpenSearch ships, so the plugin needs no JSON library of its own.
 */
public final class RankerProtocol {

    private RankerProtocol() {}

    /** {@code {"user_id": "...", "hits": [{"id": "...", "score": 0.93}, ...]}} */
    public static byte[] requestBody(String userId, List<RankerClient.Candidate> candidates) throws IOException {
        return requestBody(userId, null, candidates);
    }

    /** {@code {"user_id": "...", "query_id": "...", "hits": [...]}}; without {@code query_id} when it is null. */
    public static byte[] requestBody(String userId, String queryId, List<RankerClient.Candidate> candidates) throws IOException {
        return requestBody(userId, queryId, candidates, null);
    }

    /**
     * As above, with the page shown when {@code page} is not null:
     * {@code "blend_weight": 0.5, "page": {"from": 10, "size": 10, "positions": [0, 1, 3, ...]}}.
     */
    public static byte[] requestBody(String userId, String queryId, List<RankerClient.Candidate> candidates,
                                     RankerClient.Page page) throws IOException {
        try (XContentBuilder b = XContentFactory.jsonBuilder()) {
            b.startObject().field("user_id", userId);
            if (queryId != null) {
                b.field("query_id", queryId);
            }
            b.startArray("hits");
            for (RankerClient.Candidate c : candidates) {
                b.startObject().field("id", c.id()).field("score", c.score()).endObject();
            }
            b.endArray();
            if (page != null) {
                b.field("blend_weight", page.blendWeight());
                b.startObject("page").field("from", page.from()).field("size", page.size());
                b.startArray("positions");
                for (int p : page.positions()) {
                    b.value(p);
                }
                b.endArray().endObject();
            }
            b.endObject();
            return BytesReference.toBytes(BytesReference.bytes(b));
        }
    }

    /** Read the ranker's response; a missing or mistyped field is an {@link IOException} naming it. */
    @SuppressWarnings("unchecked")
    public static RankerClient.Answer parseAnswer(InputStream body) throws IOException {
        Map<String, Object> map;
        try (
            XContentParser p = JsonXContent.jsonXContent.createParser(
                NamedXContentRegistry.EMPTY, DeprecationHandler.IGNORE_DEPRECATIONS, body)
        ) {
            map = p.map();
        }
        Object personalized = map.get("personalized");
        if (!(personalized instanceof Boolean)) {
            throw new IOException("ranker response lacks the boolean field [personalized]");
        }
        Object results = map.get("results");
        if (!(results instanceof List<?> list)) {
            throw new IOException("ranker response lacks the list field [results]");
        }
        List<RankerClient.Scored> scored = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof Map<?, ?> r) || r.get("id") == null || !(r.get("score") instanceof Number s)) {
                throw new IOException("ranker response field [results." + i + "] needs [id] and a numeric [score]");
            }
            scored.add(new RankerClient.Scored(String.valueOf(r.get("id")), s.doubleValue()));
        }
        Object reason = map.get("reason");
        Object version = map.get("model_version");
        // A ranker that predates the page answers without [blended]: the processor blends, as before.
        Object blended = map.get("blended");
        if (blended != null && !(blended instanceof Boolean)) {
            throw new IOException("ranker response field [blended] must be a boolean");
        }
        return new RankerClient.Answer(
            (Boolean) personalized,
            reason == null ? null : reason.toString(),
            version == null ? null : version.toString(),
            scored,
            Boolean.TRUE.equals(blended)
        );
    }
}
