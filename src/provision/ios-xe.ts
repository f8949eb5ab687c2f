// The IOS XE configuration of a router that takes its PPKs from a skip-server: printed by `init`
// with this KP's values, and shown in the README (test/docs.test.ts keeps the two the same).
// UPPER-CASE words are the operator's to fill in.

export interface RouterConfigValues {
  /** Where the router reaches its KP (IOx: the app's guest address). */
  kpAddress: string;
  /** The PSK identity (a line of the KP's psk_file). */
  identity: string;
  pskHex: string;
}

export function routerConfig(v: RouterConfigValues): string {
  return `crypto skip-client SKIP-CLIENT
 server ipv4 ${v.kpAddress} port 443
 psk id ${v.identity} key hex ${v.pskHex}
!
crypto ikev2 keyring SKIP-KR
 peer PEER-ROUTER
  address PEER-ROUTER-ADDRESS
  ppk dynamic SKIP-CLIENT required
!
crypto ikev2 proposal IKE-PROPOSAL
 encryption aes-gcm-256
 prf sha512
 group 21 20 19
crypto ikev2 policy IKE-POLICY
 proposal IKE-PROPOSAL
!
crypto ikev2 profile IKE-PROFILE
 match identity remote address PEER-ROUTER-ADDRESS 255.255.255.255
 authentication local pre-share key IKE-PSK
 authentication remote pre-share key IKE-PSK
 keyring ppk SKIP-KR
!
crypto ipsec transform-set IPSEC-TS esp-gcm 256
 mode tunnel
crypto ipsec profile IPSEC-PROFILE
 set transform-set IPSEC-TS
 set ikev2-profile IKE-PROFILE
!
interface Tunnel10
 ip address TUNNEL-ADDRESS 255.255.255.252
 tunnel source GigabitEthernet1
 tunnel mode ipsec ipv4
 tunnel destination PEER-ROUTER-ADDRESS
 tunnel protection ipsec profile IPSEC-PROFILE`;
}
