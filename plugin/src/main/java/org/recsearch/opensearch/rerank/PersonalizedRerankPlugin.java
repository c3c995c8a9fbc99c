package org.recsearch.opensearch.rerank;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import org.opensearch.cluster.metadata.IndexNameExpressionResolver;
import org.opensearch.cluster.service.ClusterService;
import org.opensearch.core.common.io.stream.NamedWriteableRegistry;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.env.Environment;
import org.opensearch.env.NodeEnvironment;
import org.opensearch.common.settings.Setting;
import org.opensearch.common.settings.Settings;
import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.ReloadablePlugin;
import org.opensearch.plugins.SearchPipelinePlugin;
import org.opensearch.plugins.SearchPlugin;
import org.opensearch.repositories.RepositoriesService;
import org.opensearch.script.ScriptService;
import org.opensearch.search.pipeline.Processor;
import org.opensearch.search.pipeline.SearchRequestProcessor;
import org.opensearch.search.pipeline.SearchResponseProcessor;
import org.opensearch.threadpool.ThreadPool;
import org.opensearch.transport.client.Client;
import org.opensearch.watcher.ResourceWatcherService;

/**
 * The recsearch plugin: the {@code personalized_rerank} search response processor, its request half
 * {@code personalized_window} (pagination: every page a slice of one reranked window), the request ext
 * {@code personalize} that carries the user, and the response ext {@code personalized_rerank} that reports the outcome.
 * Its node settings are in {@link RerankSettings}; the keystore key is reloaded by {@code _nodes/reload_secure_settings}.
 */
public class PersonalizedRerankPlugin extends Plugin implements SearchPlugin, SearchPipelinePlugin, ReloadablePlugin {

    private final RankerUrlAllowList allowList;
    private final AtomicReference<String> keystoreApiKey = new AtomicReference<>();
    /** The HTTP client's threads: a fixed number; its queue never rejects (the JDK client would shut down). */
    private final ExecutorService httpThreads;
    /** One HTTP client (one connection pool) for every pipeline on the node. */
    private final HttpRankerClient client;
    /** Set at node start-up ({@link #createComponents}); read by {@code personalized_window} per search. */
    private final AtomicReference<ClusterService> clusterService = new AtomicReference<>();
    private final AtomicReference<IndexNameExpressionResolver> indexResolver = new AtomicReference<>();

    public PersonalizedRerankPlugin(Settings settings) {
        this.allowList = RerankSettings.allowList(settings);
        this.keystoreApiKey.set(RerankSettings.apiKey(settings));
        this.httpThreads = Executors.newFixedThreadPool(RerankSettings.HTTP_THREADS.get(settings), daemonThreads("recsearch-rerank-http-"));
        this.client = new HttpRankerClient(
            httpThreads, keystoreApiKey::get, RerankSettings.MAX_RESPONSE_BYTES.get(settings).getBytes());
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public Collection<Object> createComponents(Client client, ClusterService clusterService, ThreadPool threadPool,
                                               ResourceWatcherService resourceWatcherService, ScriptService scriptService,
                                               NamedXContentRegistry xContentRegistry, Environment environment,
                                               NodeEnvironment nodeEnvironment, NamedWriteableRegistry namedWriteableRegistry,
                                               IndexNameExpressionResolver indexNameExpressionResolver,
                                               Supplier<RepositoriesService> repositoriesServiceSupplier) {
        this.clusterService.set(clusterService);
        this.indexResolver.set(indexNameExpressionResolver);
        return List.of();
    }

    @Override
    public List<Setting<?>> getSettings() {
        return RerankSettings.all();
    }

    @Override
    public void reload(Settings settings) {
        keystoreApiKey.set(RerankSettings.apiKey(settings));
    }

    @Override
    public List<SearchExtSpec<?>> getSearchExts() {
        return List.of(
            new SearchExtSpec<>(PersonalizeRequestExt.NAME, PersonalizeRequestExt::new, PersonalizeRequestExt::parse),
            new SearchExtSpec<>(RerankOutcomeExt.NAME, RerankOutcomeExt::new, RerankOutcomeExt::parse)
        );
    }

    @Override
    public Map<String, Processor.Factory<SearchResponseProcessor>> getResponseProcessors(Parameters parameters) {
        // Answers and timeouts are handled on OpenSearch's generic pool (parameters.genericExecutor).
        return Map.of(
            PersonalizedRerankProcessor.TYPE,
            new PersonalizedRerankProcessor.Factory(
                client, System::nanoTime, parameters.threadContext, allowList, parameters.genericExecutor::accept)
        );
    }

    @Override
    public Map<String, Processor.Factory<SearchRequestProcessor>> getRequestProcessors(Parameters parameters) {
        return Map.of(
            PersonalizedWindowProcessor.TYPE,
            new PersonalizedWindowProcessor.Factory(ResultWindowLimit.fromClusterState(clusterService::get, indexResolver::get))
        );
    }

    @Override
    public void close() {
        client.close();
        httpThreads.shutdownNow();
    }
}
