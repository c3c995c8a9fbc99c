package org.recsearch.opensearch.rerank;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.lucene.search.TotalHits;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.action.search.SearchResponseSections;
import org.opensearch.action.search.ShardSearchFailure;
import org.opensearch.core.common.bytes.BytesArray;
import org.opensearch.search.SearchExtBuilder;
import org.opensearch.search.SearchHit;
import org.opensearch.search.SearchHits;
import org.opensearch.search.builder.SearchSourceBuilder;

/** Builders for hits, responses and requests in the tests. */
final class Hits {
    private Hits() {}

    /** A hit whose _source is {"item_id": itemId} (no item_id when itemId is null). */
    static SearchHit hit(String docId, String itemId, float score) {
        SearchHit h = new SearchHit(docId.hashCode() & 0xffff, docId, Map.of(), Map.of());
        String source = itemId == null ? "{\"title\":\"x\"}" : "{\"item_id\":\"" + itemId + "\",\"title\":\"x\"}";
        h.sourceRef(new BytesArray(source));
        h.score(score);
        return h;
    }

    static SearchResponse response(SearchHit... hits) {
        return response(hits.length, hits);
    }

    /** A response of {@code hits} for a query that matched {@code total} documents. */
    static SearchResponse response(long total, SearchHit... hits) {
        SearchHits sh = new SearchHits(hits, new TotalHits(total, TotalHits.Relation.EQUAL_TO), hits.length == 0 ? Float.NaN : hits[0].getScore());
        SearchResponseSections sections = new SearchResponseSections(sh, null, null, false, null, null, 1);
        return new SearchResponse(sections, null, 1, 1, 0, 7, ShardSearchFailure.EMPTY_ARRAY, SearchResponse.Clusters.EMPTY);
    }

    static SearchRequest request(String userId) {
        return request(userId, null);
    }

    /** A search for {@code userId} that names its UBI {@code queryId} (null: none, the processor makes one). */
    static SearchRequest request(String userId, String queryId) {
        SearchSourceBuilder source = new SearchSourceBuilder();
        if (userId != null || queryId != null) {
            source.ext(List.of(new PersonalizeRequestExt(userId, queryId)));
        }
        return new SearchRequest("items").source(source);
    }

    static List<String> docIds(SearchResponse response) {
        List<String> out = new ArrayList<>();
        for (SearchHit h : response.getHits().getHits()) {
            out.add(h.getId());
        }
        return out;
    }

    static RerankOutcomeExt outcome(SearchResponse response) {
        for (SearchExtBuilder e : response.getInternalResponse().getSearchExtBuilders()) {
            if (e instanceof RerankOutcomeExt o) {
                return o;
            }
        }
        return null;
    }
}
