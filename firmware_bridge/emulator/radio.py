"""The virtual radio that emulated wearables and centrals share: a bumble ``LocalLink`` that scales.

bumble's ``LocalLink`` hands every advertising PDU to every other controller on the link, each
through its own event-loop callback. With N emulated wearables advertising every 20 ms that is
``N * N / 0.02`` callbacks a second (500,000 for 100 devices): the event loop saturates before the
first connection is made, although nearly every receiver is a peripheral that ignores what it hears.
On a real radio an advertisement costs a peripheral nothing. :class:`VirtualRadio` delivers

- advertisements (``ADV_IND``, ``ADV_EXT_IND``) only to controllers that listen: scanning,
  initiating a connection, or synchronising to periodic advertising;
- connection requests (``CONNECT_IND``) only to controllers that advertise;

so the cost grows with the number of listeners (usually one central), not with the square of the
number of devices. Everything else (ACL data, LL control PDUs) is bumble's ``LocalLink`` unchanged.

:class:`VirtualController` fixes one gap of bumble's virtual controller that a central meets when a
connection attempt times out: ``LE Create Connection Cancel`` is acknowledged but the pending
connection is neither dropped nor answered, so the host waits for ever and every later attempt is
refused with *Command Disallowed*. Here the cancel ends the attempt with an ``LE Connection
Complete`` event carrying *Unknown Connection Identifier*, as the Core specification (Vol 4, Part E,
7.8.13) requires of a real controller.
"""

from __future__ import annotations

import asyncio

from bumble import hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink

__all__ = ["VirtualController", "VirtualRadio"]


def _listens(controller: Controller) -> bool:
    """True when ``controller`` would act on an advertisement it hears."""
    return bool(
        controller.le_scan_enable
        or controller.pending_le_connection is not None
        or controller.pending_periodic_advertising_syncs
        or controller.established_periodic_advertising_syncs
    )


class VirtualRadio(LocalLink):
    """A ``LocalLink`` whose advertising channel reaches only the controllers that listen.

    Use it wherever a ``LocalLink`` is used; controllers attach to it the same way
    (``Controller(name, link=radio)``).
    """

    def send_advertising_pdu(self, sender_controller: Controller, packet: ll.AdvertisingPdu) -> None:
        """Deliver ``packet`` on the next loop iteration to every controller that can act on it."""
        loop = asyncio.get_running_loop()
        wanted = (lambda c: c.is_advertising) if isinstance(packet, ll.ConnectInd) else _listens
        for controller in self.controllers:
            if controller is not sender_controller and wanted(controller):
                loop.call_soon(controller.on_ll_advertising_pdu, packet)


class VirtualController(Controller):
    """bumble's virtual controller, with ``LE Create Connection Cancel`` that really cancels."""

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Drop the pending connection and report its end (Core spec Vol 4, Part E, 7.8.13)."""
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        # The command complete event goes first; the connection complete event follows it.
        asyncio.get_running_loop().call_soon(self._report_cancelled, pending.peer_address)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def _report_cancelled(self, peer_address: hci.Address) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer_address.address_type,
                peer_address=peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )
