//! HAProxy's statistics CSV (`show stat`, `/;csv`): parsed into server states.

use serde::{Deserialize, Serialize};

/// The state of one server of a backend, as HAProxy reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerState {
    /// Server name (the node name).
    pub name: String,
    /// `UP`, `DOWN`, `MAINT`, `UP 1/2`, `no check`, …
    pub status: String,
    /// `ip:port` HAProxy sends to.
    pub addr: String,
    /// Sessions (requests) served so far.
    pub total: u64,
    /// The last health check's result (`L7OK`, `L4CON`, `INI`, …).
    #[serde(default)]
    pub check: String,
    /// Seconds since its state last changed.
    #[serde(default)]
    pub last_change_s: u64,
}

impl ServerState {
    /// Whether HAProxy sends traffic to it.
    pub fn is_up(&self) -> bool {
        self.status == "UP" || self.status.starts_with("UP ")
    }

    /// Whether it is UP and a health check has really passed: HAProxy counts
    /// a server it has just learned of as UP before checking it.
    pub fn is_verified_up(&self) -> bool {
        self.is_up() && self.check_passed()
    }

    /// Whether its last health check passed (checks also run while a
    /// server is in maintenance).
    pub fn check_passed(&self) -> bool {
        let check = self.check.trim_start_matches("* ");
        ["L7OK", "L6OK", "L4OK"]
            .iter()
            .any(|ok| check.starts_with(ok))
    }
}

/// The servers of backend `backend` in a stats CSV.
pub(crate) fn servers(csv: &str, backend: &str) -> Vec<ServerState> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(status)) = (col("pxname"), col("svname"), col("status")) else {
        return Vec::new();
    };
    let addr = col("addr");
    let stot = col("stot");
    let check = col("check_status");
    let lastchg = col("lastchg");
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(px) == Some(&backend))
        .filter(|f| !matches!(f.get(sv), Some(&"FRONTEND" | &"BACKEND")))
        .filter_map(|f| {
            Some(ServerState {
                name: (*f.get(sv)?).to_string(),
                status: (*f.get(status)?).to_string(),
                addr: addr.and_then(|i| f.get(i)).unwrap_or(&"").to_string(),
                total: stot
                    .and_then(|i| f.get(i))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                check: check.and_then(|i| f.get(i)).unwrap_or(&"").to_string(),
                last_change_s: lastchg
                    .and_then(|i| f.get(i))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from HAProxy 2.6 inside `ha` with two web apps.
    const CSV: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
stats,FRONTEND,,,0,0,9978,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
nodes,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,3,0,,1,4,1,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,1,2,2,,,,192.168.42.11:3000,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
nodes,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,3,0,,1,4,2,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,1,2,2,,,,192.168.42.22:3000,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
nodes,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,2,2,0,,0,3,0,,1,4,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,2,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,10,10,1040,190,0,0,
";

    #[test]
    fn reads_the_servers_of_one_backend() {
        let s = servers(CSV, "nodes");
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s1", "s2"]);
        assert!(s.iter().all(ServerState::is_verified_up));
        assert_eq!(s[0].check, "L7OK");
        assert_eq!(s[0].addr, "192.168.42.11:3000");
        assert_eq!(s[1].addr, "192.168.42.22:3000");
        assert_eq!(s[0].last_change_s, 3);
        assert!(servers(CSV, "other").is_empty());
        assert!(servers("", "nodes").is_empty());
    }

    #[test]
    fn a_down_server_is_not_up() {
        let csv = CSV.replace(",UP,1,1,0,0,0,", ",DOWN,1,1,0,0,0,");
        let s = servers(&csv, "nodes");
        assert_eq!(s.len(), 2);
        assert!(s.iter().any(|s| s.status == "DOWN" && !s.is_up()));
    }

    #[test]
    fn transitional_states_count_as_up() {
        let s = ServerState {
            name: "s1".into(),
            status: "UP 1/2".into(),
            addr: String::new(),
            total: 0,
            check: "INI".into(),
            last_change_s: 0,
        };
        assert!(s.is_up());
        assert!(!s.is_verified_up(), "not checked yet");
    }
}
