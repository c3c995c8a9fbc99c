package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.InputStream;
import java.util.Map;
import java.util.Set;

import org.junit.Test;
import org.opensearch.common.settings.SecureSettings;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.settings.SecureString;

public class RerankSettingsTest {

    /** A keystore in memory (OpenSearch's MockSecureSettings is in its test framework, not on this classpath). */
    static final class Keystore implements SecureSettings {
        private final Map<String, String> values;

        Keystore(Map<String, String> values) {
            this.values = values;
        }

        @Override
        public boolean isLoaded() {
            return true;
        }

        @Override
        public Set<String> getSettingNames() {
            return values.keySet();
        }

        @Override
        public SecureString getString(String setting) {
            return new SecureString(values.get(setting).toCharArray());
        }

        @Override
        public InputStream getFile(String setting) {
            throw new UnsupportedOperationException();
        }

        @Override
        public byte[] getSHA256Digest(String setting) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {}
    }

    static Settings withKey(String key) {
        return Settings.builder().setSecureSettings(new Keystore(Map.of(RerankSettings.API_KEY_KEY, key))).build();
    }

    @Test
    public void thePluginRegistersItsSettingsAndTheKeyIsASecureSetting() {
        PersonalizedRerankPlugin plugin = new PersonalizedRerankPlugin(Settings.EMPTY);
        try {
            assertTrue(plugin.getSettings().contains(RerankSettings.ALLOWED_URLS));
            assertTrue(plugin.getSettings().contains(RerankSettings.API_KEY));
        } finally {
            plugin.close();
        }
    }

    @Test
    public void theKeyComesFromTheKeystore() {
        assertNull(RerankSettings.apiKey(Settings.EMPTY));
        assertEquals("from-keystore", RerankSettings.apiKey(withKey("from-keystore")));
    }

    @Test
    public void limitsHaveSafeDefaults() {
        assertEquals(4L * 1024 * 1024, RerankSettings.MAX_RESPONSE_BYTES.get(Settings.EMPTY).getBytes());
        assertEquals(4, (int) RerankSettings.HTTP_THREADS.get(Settings.EMPTY));
    }
}
