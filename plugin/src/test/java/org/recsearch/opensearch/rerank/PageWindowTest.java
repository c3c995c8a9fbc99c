package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import org.junit.Test;
import org.opensearch.search.SearchHit;

/** The window arithmetic: what a page asks OpenSearch for, what is reranked, what comes back. */
public class PageWindowTest {

    private static final int NO_LIMIT = ResultWindowLimit.UNKNOWN;

    @Test
    public void aPageInsideTheWindowFetchesTheWholeWindowFromZero() {
        PageWindow page = PageWindow.plan(10, 10, 100, NO_LIMIT).page();
        assertEquals(new PageWindow(10, 10, 100), page);
        assertEquals(100, page.fetchSize());
    }

    @Test
    public void unsetFromAndSizeAreOpenSearchsDefaults() {
        PageWindow page = PageWindow.plan(-1, -1, 100, NO_LIMIT).page();
        assertEquals(new PageWindow(0, 10, 100), page);
    }

    @Test
    public void aPageThatStraddlesTheWindowEndFetchesToThePageEndAndStillReranksOnlyTheWindow() {
        PageWindow page = PageWindow.plan(95, 10, 100, NO_LIMIT).page();
        assertEquals(105, page.fetchSize());
        assertEquals(100, page.rerankLimit(1000));
        assertEquals(50, page.rerankLimit(50));  // max_hits smaller than the window: the smaller prefix
    }

    @Test
    public void aPageWhollyPastTheWindowIsLeftAsAsked() {
        PageWindow.Plan plan = PageWindow.plan(100, 10, 100, NO_LIMIT);
        assertNull(plan.page());
        assertEquals(PageWindow.BEYOND_WINDOW, plan.skipped());
    }

    @Test
    public void theWindowIsCappedByTheIndexMaxResultWindow() {
        PageWindow page = PageWindow.plan(0, 10, 100, 50).page();
        assertEquals(50, page.window());
        assertEquals(50, page.fetchSize());
        assertEquals(PageWindow.BEYOND_WINDOW, PageWindow.plan(50, 10, 100, 50).skipped());
    }

    @Test
    public void aPageOpenSearchWouldRefuseIsLeftForOpenSearchToRefuse() {
        PageWindow.Plan plan = PageWindow.plan(45, 10, 100, 50);
        assertNull(plan.page());
        assertNull(plan.skipped());
    }

    @Test
    public void noHitsWantedIsLeftAsAsked() {
        PageWindow.Plan plan = PageWindow.plan(0, 0, 100, NO_LIMIT);
        assertNull(plan.page());
        assertNull(plan.skipped());
    }

    @Test
    public void theSliceIsThePageOrWhatIsLeftOfIt() {
        SearchHit[] hits = new SearchHit[25];
        for (int i = 0; i < hits.length; i++) {
            hits[i] = Hits.hit("d" + i, "I" + i, 25 - i);
        }
        assertArrayEquals(java.util.Arrays.copyOfRange(hits, 10, 20), new PageWindow(10, 10, 100).slice(hits));
        assertArrayEquals(java.util.Arrays.copyOfRange(hits, 20, 25), new PageWindow(20, 10, 100).slice(hits));
        assertEquals(0, new PageWindow(30, 10, 100).slice(hits).length);
    }
}
