#!/usr/bin/env perl
# P1 reference: a master_ip_failover hook written the way MHA's samples are (Getopt::Long and
# MHA::DBHelper loaded, MHA's options parsed, exit 0). Nothing else.
use strict;
use warnings FATAL => 'all';
use Getopt::Long;
use MHA::DBHelper;

my ( $command, $ssh_user, $orig_master_host, $orig_master_ip, $orig_master_port, $new_master_host,
  $new_master_ip, $new_master_port, $new_master_user, $new_master_password, $ssh_options );
GetOptions(
  'command=s' => \$command, 'ssh_user=s' => \$ssh_user, 'orig_master_host=s' => \$orig_master_host,
  'orig_master_ip=s' => \$orig_master_ip, 'orig_master_port=i' => \$orig_master_port,
  'new_master_host=s' => \$new_master_host, 'new_master_ip=s' => \$new_master_ip,
  'new_master_port=i' => \$new_master_port, 'new_master_user=s' => \$new_master_user,
  'new_master_password=s' => \$new_master_password, 'ssh_options=s' => \$ssh_options,
);
exit 0;
