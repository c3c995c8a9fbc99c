package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.List;

import org.junit.Test;
import org.opensearch.search.SearchHit;

public class HitWindowTest {

    private static List<String> ids(SearchHit[] hits) {
        return java.util.Arrays.stream(hits).map(SearchHit::getId).toList();
    }

    @Test
    public void blendsScoresNotRanks() {
        // OpenSearch: a far ahead of b and c. Ranker: c best, b a close second, a last.
        SearchHit[] hits = { Hits.hit("a", "A", 10f), Hits.hit("b", "B", 2f), Hits.hit("c", "C", 1f) };
        HitWindow w = HitWindow.of(hits, "item_id", 100);
        List<RankerClient.Scored> ranker = List.of(new RankerClient.Scored("C", 1.0), new RankerClient.Scored("B", 0.9),
            new RankerClient.Scored("A", 0.0));
        // w=0.5: a = 0.5*1 + 0.5*0 = 0.5, b = 0.5*(1/9) + 0.5*0.9 = 0.5056, c = 0 + 0.5 = 0.5
        SearchHit[] out = w.reorder(ranker, 0.5);
        assertEquals(List.of("b", "a", "c"), ids(out));
        assertEquals(0.5056f, out[0].getScore(), 1e-3);
        // A rank-only blend would put c (ranker #1) level with a; by score a small ranker lead cannot beat a big OS lead at w=0.3.
        SearchHit[] again = HitWindow.of(new SearchHit[] { Hits.hit("a", "A", 10f), Hits.hit("b", "B", 2f), Hits.hit("c", "C", 1f) },
            "item_id", 100).reorder(ranker, 0.3);
        assertEquals("a", again[0].getId());
    }

    @Test
    public void weightOneFollowsTheRankerAndZeroKeepsOpenSearchOrder() {
        List<RankerClient.Scored> ranker = List.of(new RankerClient.Scored("C", 3), new RankerClient.Scored("A", 2), new RankerClient.Scored("B", 1));
        SearchHit[] one = HitWindow.of(new SearchHit[] { Hits.hit("a", "A", 3f), Hits.hit("b", "B", 2f), Hits.hit("c", "C", 1f) }, "item_id", 10)
            .reorder(ranker, 1.0);
        assertEquals(List.of("c", "a", "b"), ids(one));
        SearchHit[] zero = HitWindow.of(new SearchHit[] { Hits.hit("a", "A", 3f), Hits.hit("b", "B", 2f), Hits.hit("c", "C", 1f) }, "item_id", 10)
            .reorder(ranker, 0.0);
        assertEquals(List.of("a", "b", "c"), ids(zero));
    }

    @Test
    public void hitsWithoutTheIdFieldStayInPlaceAndHitsPastTheWindowAreUntouched() {
        SearchHit noId = Hits.hit("n", null, 5f);
        SearchHit past = Hits.hit("p", "P", 0.5f);
        SearchHit[] hits = { Hits.hit("a", "A", 6f), noId, Hits.hit("b", "B", 4f), Hits.hit("c", "C", 3f), past };
        HitWindow w = HitWindow.of(hits, "item_id", 4);
        assertEquals(3, w.size());
        assertEquals(List.of("A", "B", "C"), w.candidates().stream().map(RankerClient.Candidate::id).toList());
        SearchHit[] out = w.reorder(List.of(new RankerClient.Scored("C", 1), new RankerClient.Scored("B", 0.5), new RankerClient.Scored("A", 0)), 1.0);
        assertEquals(List.of("c", "n", "b", "a", "p"), ids(out));
        assertEquals(5f, out[1].getScore(), 0f);
        assertEquals(0.5f, out[4].getScore(), 0f);
    }

    @Test
    public void idsMissingFromTheRankerCountAsItsLowestScore() {
        SearchHit[] hits = { Hits.hit("a", "A", 1f), Hits.hit("b", "B", 1f), Hits.hit("c", "C", 1f) };
        SearchHit[] out = HitWindow.of(hits, "item_id", 10).reorder(List.of(new RankerClient.Scored("C", 2), new RankerClient.Scored("B", 1)), 0.5);
        assertEquals(List.of("c", "a", "b"), ids(out));
    }

    @Test
    public void idFromDocIdAndMinmax() {
        assertEquals("a", HitWindow.idOf(Hits.hit("a", "A", 1f), "_id"));
        assertEquals("A", HitWindow.idOf(Hits.hit("a", "A", 1f), "item_id"));
        assertNull(HitWindow.idOf(Hits.hit("a", "A", 1f), "sku.code"));
        assertArrayEquals(new double[] { 0, 0.5, 1 }, HitWindow.minmax(new double[] { 1, 2, 3 }), 1e-12);
        assertArrayEquals(new double[] { 0, 0 }, HitWindow.minmax(new double[] { 7, 7 }), 1e-12);
    }
}
