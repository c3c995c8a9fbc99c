package org.recsearch.opensearch.rerank;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.opensearch.common.document.DocumentField;
import org.opensearch.search.SearchHit;

/**
 * The top {@code max_hits} hits of a response that have an item id, and how to put them back in blended order.
 *
 * <p>Hits without the id field stay exactly where they were (position and score); hits past the window keep their
 * place after it. Only the hits with an id are sent, and they are reordered among the positions they held:
 * {@code final = (1 - w) * minmax(opensearch score) + w * minmax(ranker score)}, ties kept in the original order.
 * A ranker that is sent the page does this blend itself ({@code ranker/service/blend.py}, the same arithmetic) and
 * answers in the order to show, which {@link #place} puts in as it is; {@link #reorder} is for a ranker that does not.
 */
public final class HitWindow {

    private final SearchHit[] hits;
    private final int[] positions;
    private final String[] ids;

    private HitWindow(SearchHit[] hits, int[] positions, String[] ids) {
        this.hits = hits;
        this.positions = positions;
        this.ids = ids;
    }

    /** Pick the hits to send: the first {@code maxHits} hits that carry {@code idField}. */
    public static HitWindow of(SearchHit[] hits, String idField, int maxHits) {
        int window = Math.min(maxHits, hits.length);
        List<Integer> pos = new ArrayList<>(window);
        List<String> ids = new ArrayList<>(window);
        for (int i = 0; i < window; i++) {
            String id = idOf(hits[i], idField);
            if (id != null) {
                pos.add(i);
                ids.add(id);
            }
        }
        return new HitWindow(hits, pos.stream().mapToInt(Integer::intValue).toArray(), ids.toArray(new String[0]));
    }

    /** How many hits will be reordered. */
    public int size() {
        return positions.length;
    }

    /** The candidates for the ranker, one per distinct id (a repeated id is sent once, with its best score). */
    public List<RankerClient.Candidate> candidates() {
        Map<String, Float> best = new LinkedHashMap<>();
        for (int k = 0; k < positions.length; k++) {
            float score = safe(hits[positions[k]].getScore());
            best.merge(ids[k], score, Math::max);
        }
        List<RankerClient.Candidate> out = new ArrayList<>(best.size());
        best.forEach((id, score) -> out.add(new RankerClient.Candidate(id, score)));
        return out;
    }

    /**
     * The slot of each candidate ({@link #candidates}, same order): the index in the hits of the first hit with its
     * id. A later hit with the same id is not one of these slots: under {@link #place} it stays where it was.
     */
    public List<Integer> slots() {
        return new ArrayList<>(slotOfId().values());
    }

    /** Each distinct id and the index of its first hit, in window order. */
    private Map<String, Integer> slotOfId() {
        Map<String, Integer> first = new LinkedHashMap<>();
        for (int k = 0; k < positions.length; k++) {
            first.putIfAbsent(ids[k], positions[k]);
        }
        return first;
    }

    /**
     * The hits with the ranker's blended answer put in as it is (a new array): the k-th result goes to the k-th
     * {@link #slots slot} with the result's score; hits in no slot stay where they were. The results must name every
     * candidate once, else an {@link IllegalArgumentException} (a malformed answer).
     */
    public SearchHit[] place(List<RankerClient.Scored> results) {
        Map<String, Integer> slotOf = slotOfId();
        List<Integer> slots = new ArrayList<>(slotOf.values());
        if (results.size() != slots.size()) {
            throw new IllegalArgumentException(
                "blended ranker answer has " + results.size() + " results for " + slots.size() + " hits sent");
        }
        SearchHit[] out = hits.clone();
        Set<String> seen = new HashSet<>();
        for (int k = 0; k < results.size(); k++) {
            RankerClient.Scored r = results.get(k);
            Integer from = slotOf.get(r.id());
            if (from == null || !seen.add(r.id())) {
                throw new IllegalArgumentException("blended ranker answer names [" + r.id() + "], not a hit sent once");
            }
            SearchHit hit = hits[from];
            if (Double.isFinite(r.score())) {
                hit.score((float) r.score());
            }
            out[slots.get(k)] = hit;
        }
        return out;
    }

    /**
     * The hits in blended order (a new array; the hits themselves get the blended score). An id the ranker left out
     * counts as its lowest score.
     */
    public SearchHit[] reorder(List<RankerClient.Scored> results, double weight) {
        Map<String, Double> ranker = new LinkedHashMap<>();
        for (RankerClient.Scored s : results) {
            ranker.putIfAbsent(s.id(), s.score());
        }
        int n = positions.length;
        double[] os = new double[n];
        double[] rk = new double[n];
        double rankerMin = ranker.values().stream().mapToDouble(Double::doubleValue).filter(Double::isFinite).min().orElse(0.0);
        for (int k = 0; k < n; k++) {
            os[k] = safe(hits[positions[k]].getScore());
            Double r = ranker.get(ids[k]);
            rk[k] = r == null || !Double.isFinite(r) ? rankerMin : r;
        }
        double[] osNorm = minmax(os);
        double[] rkNorm = minmax(rk);
        double[] blended = new double[n];
        Integer[] order = new Integer[n];
        for (int k = 0; k < n; k++) {
            blended[k] = (1.0 - weight) * osNorm[k] + weight * rkNorm[k];
            order[k] = k;
        }
        // Arrays.sort on objects is stable: equal blended scores keep the original order.
        Arrays.sort(order, Comparator.comparingDouble((Integer k) -> blended[k]).reversed());
        SearchHit[] out = hits.clone();
        for (int slot = 0; slot < n; slot++) {
            int k = order[slot];
            SearchHit hit = hits[positions[k]];
            hit.score((float) blended[k]);
            out[positions[slot]] = hit;
        }
        return out;
    }

    /** Min-max scaling to [0, 1]; all-equal values carry no preference and scale to 0. */
    static double[] minmax(double[] values) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double v : values) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        double[] out = new double[values.length];
        double span = max - min;
        if (!(span > 1e-12)) {
            return out;
        }
        for (int i = 0; i < values.length; i++) {
            out[i] = (values[i] - min) / span;
        }
        return out;
    }

    /** The highest score among {@code hits}, NaN when none has one (as OpenSearch reports it). */
    public static float maxScore(SearchHit[] hits) {
        float max = Float.NaN;
        for (SearchHit h : hits) {
            float s = h.getScore();
            if (!Float.isNaN(s) && (Float.isNaN(max) || s > max)) {
                max = s;
            }
        }
        return max;
    }

    private static float safe(float score) {
        return Float.isFinite(score) ? score : 0f;
    }

    /**
     * The item id of a hit: {@code _id}, a returned field ({@code fields}/docvalue), or a (dotted) path in
     * {@code _source}. Null when the hit does not carry it.
     */
    public static String idOf(SearchHit hit, String idField) {
        if ("_id".equals(idField)) {
            return hit.getId();
        }
        DocumentField field = hit.field(idField);
        if (field != null && field.getValue() != null) {
            return field.getValue().toString();
        }
        if (!hit.hasSource()) {
            return null;
        }
        Object node = hit.getSourceAsMap();
        for (String part : idField.split("\\.")) {
            if (!(node instanceof Map<?, ?> map)) {
                return null;
            }
            node = map.get(part);
        }
        if (node instanceof List<?> list) {
            node = list.isEmpty() ? null : list.get(0);
        }
        if (node == null || node instanceof Map<?, ?>) {
            return null;
        }
        String id = node.toString();
        return id.isEmpty() ? null : id;
    }
}
