"""The OCPP endpoint (central system side): WebSocket server, handshake, message handlers."""
