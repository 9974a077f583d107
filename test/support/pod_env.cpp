#include "test/support/pod_env.hpp"

#include "test/support/pod.hpp"

namespace replagent::test {

EnvList chart_pod_env(const PodEnvSpec& pod) {
  return {
      {"POD_NAME", pod.name},
      {"POD_NAMESPACE", pod.ns},
      {"PGDATA", pod.pgdata.string()},
      {"REPLAGENT_DNS_SERVERS", pod.dns_server},
      {"REPLAGENT_POSTGRES_PORT", pod.port},
      {"REPLAGENT_POSTGRES_HOST", pod.ip},
      {"REPLAGENT_POSTGRES_LISTEN_ADDRESSES", pod.ip},
      {"REPLAGENT_POSTGRES_BIN_DIR", kPgBinDir},
      // primary_conninfo gets hostaddr= beside host=: the local pods' walreceivers use the
      // machine's resolver, which knows nothing of the set's cluster DNS.
      {"REPLAGENT_INIT_PIN_PRIMARY_ADDRESS", "true"},
      {"REPLAGENT_INIT_TERMINATION_LOG", pod.termination_log.string()},
      {"REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE", pod.superuser_password_file.string()},
      {"REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE", pod.replication_password_file.string()},
      {"REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE", pod.monitor_password_file.string()},
      {"REPLAGENT_POSTGRES_BACKUP_PASSWORD_FILE", pod.backup_password_file.string()},
  };
}

}  // namespace replagent::test
