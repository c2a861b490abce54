# scapyprobe.py PEER MODE...: what a measurement script does with
# scapy in a sliver, one line per probe.
#   udp SPORT DPORT   sr1 of a UDP datagram from SPORT, which it holds
#                     with a UDP socket of its own
#   icmp ID           sr1 of an ICMP echo request
#   spoof SRC DPORT   sr1 of a UDP datagram from another address
# A sliver's packet sockets do not send: scapy's layer-3 sends go
# through a raw IP socket (L3RawSocket), its receives through a
# packet socket.
import socket
import sys

from scapy.all import ICMP, IP, UDP, Raw, conf, sr1
from scapy.supersocket import L3RawSocket

conf.verb = 0
conf.L3socket = L3RawSocket

peer, mode = sys.argv[1], sys.argv[2]
if mode == "udp":
    sport, dport = int(sys.argv[3]), int(sys.argv[4])
    hold = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hold.bind(("", sport))
    pkt = IP(dst=peer) / UDP(sport=sport, dport=dport) / Raw(b"SCAPYUDP")
elif mode == "icmp":
    pkt = IP(dst=peer) / ICMP(id=int(sys.argv[3])) / Raw(b"SCAPYICMP")
elif mode == "spoof":
    pkt = IP(src=sys.argv[3], dst=peer) / UDP(sport=5000, dport=int(sys.argv[4])) / Raw(b"SCAPYSPOOF")
else:
    sys.exit("no mode " + mode)
try:
    r = sr1(pkt, timeout=2)
except OSError as e:
    print(mode, "error:", e)
    sys.exit(0)
print(mode, "reply:", r.summary() if r is not None else "none")
