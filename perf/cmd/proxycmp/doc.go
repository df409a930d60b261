// Command proxycmp measures three TCP (layer 4) proxies side by side in
// one run: pollstack proxy over AF_XDP, HAProxy 2.6 and nginx's stream
// module on the Linux kernel, each on the same CPU, with the same
// generator and backends on the other CPU. See --help.
package main
