//! A client of the local Serf agent's RPC protocol (msgpack over TCP): one
//! connection kept open, so polling the member list costs one request and
//! leaves no trace in the agent's log.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::membership::Member;

/// Where the agents of the lab listen for RPC (loopback only).
pub(crate) const RPC_ADDR: &str = "127.0.0.1:7373";

#[derive(Serialize)]
struct RequestHeader<'a> {
    #[serde(rename = "Command")]
    command: &'a str,
    #[serde(rename = "Seq")]
    seq: u64,
}

#[derive(Serialize)]
struct Handshake {
    #[serde(rename = "Version")]
    version: i32,
}

#[derive(Deserialize)]
struct ResponseHeader {
    #[serde(rename = "Seq")]
    seq: u64,
    #[serde(rename = "Error")]
    error: String,
}

#[derive(Deserialize)]
struct MembersResponse {
    #[serde(rename = "Members")]
    members: Vec<RpcMember>,
}

#[derive(Deserialize)]
struct RpcMember {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Addr")]
    addr: serde_bytes::ByteBuf,
    #[serde(rename = "Port")]
    port: u16,
    #[serde(rename = "Tags", default)]
    tags: BTreeMap<String, String>,
    #[serde(rename = "Status")]
    status: String,
}

/// Turns the address bytes Serf sends (a Go `net.IP`) into an address.
pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            let v6 = Ipv6Addr::from(octets);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

/// An open RPC session with a Serf agent.
pub(crate) struct SerfRpc {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    seq: u64,
}

impl SerfRpc {
    /// Connects and performs the protocol handshake.
    pub(crate) fn connect(addr: &str) -> Result<Self> {
        let socket: SocketAddr = addr.parse().context("Serf RPC address")?;
        let stream = TcpStream::connect_timeout(&socket, Duration::from_secs(2))
            .with_context(|| format!("connecting to the Serf agent at {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_nodelay(true)?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut rpc = Self {
            writer: stream,
            reader,
            seq: 0,
        };
        rpc.request("handshake", Some(&Handshake { version: 1 }))?;
        Ok(rpc)
    }

    fn request(&mut self, command: &str, body: Option<&impl Serialize>) -> Result<()> {
        let seq = self.seq;
        self.seq += 1;
        let mut buf = rmp_serde::to_vec_named(&RequestHeader { command, seq })?;
        if let Some(body) = body {
            buf.extend(rmp_serde::to_vec_named(body)?);
        }
        self.writer
            .write_all(&buf)
            .with_context(|| format!("sending `{command}` to the Serf agent"))?;
        let header: ResponseHeader = rmp_serde::from_read(&mut self.reader)
            .with_context(|| format!("reading the Serf agent's answer to `{command}`"))?;
        if header.seq != seq {
            bail!(
                "the Serf agent answered request {} instead of {seq}",
                header.seq
            );
        }
        if !header.error.is_empty() {
            bail!("the Serf agent refused `{command}`: {}", header.error);
        }
        Ok(())
    }

    /// Every member the agent knows, in any state.
    pub(crate) fn members(&mut self) -> Result<Vec<Member>> {
        self.request("members", None::<&()>)?;
        let body: MembersResponse = rmp_serde::from_read(&mut self.reader)
            .context("reading the member list from the Serf agent")?;
        Ok(body
            .members
            .into_iter()
            .map(|m| Member {
                addr: ip_from_bytes(&m.addr)
                    .map_or_else(String::new, |ip| SocketAddr::new(ip, m.port).to_string()),
                name: m.name,
                tags: m.tags,
                status: m.status,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_from_go_ip_bytes() {
        assert_eq!(
            ip_from_bytes(&[192, 168, 42, 11]),
            Some("192.168.42.11".parse().unwrap())
        );
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(ip_from_bytes(&mapped), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn members_response_decodes_from_msgpack() {
        #[derive(Serialize)]
        struct M<'a> {
            #[serde(rename = "Name")]
            name: &'a str,
            #[serde(rename = "Addr", with = "serde_bytes")]
            addr: &'a [u8],
            #[serde(rename = "Port")]
            port: u16,
            #[serde(rename = "Tags")]
            tags: BTreeMap<&'a str, &'a str>,
            #[serde(rename = "Status")]
            status: &'a str,
            #[serde(rename = "ProtocolMin")]
            protocol_min: u8,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "Members")]
            members: Vec<M<'a>>,
        }
        let bytes = rmp_serde::to_vec_named(&Body {
            members: vec![M {
                name: "s1",
                addr: &[192, 168, 42, 11],
                port: 7946,
                tags: [("role", "backend")].into(),
                status: "alive",
                protocol_min: 2,
            }],
        })
        .unwrap();
        let body: MembersResponse = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(body.members[0].name, "s1");
        assert_eq!(
            ip_from_bytes(&body.members[0].addr),
            Some("192.168.42.11".parse().unwrap())
        );
        assert_eq!(body.members[0].tags["role"], "backend");
    }
}
